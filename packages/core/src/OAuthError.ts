/**
 * The error model: the brand every tokenfx error carries and the one guard that recognises it, what a
 * caller should do about an error (`disposition`), and the errors of an OAuth exchange: the server's
 * answer (one class per OAuth error code, from `ProtocolError`, all exported here too), a request that
 * got no answer (`TransportError`), an answer that is not OAuth (`MalformedResponse`), and a grant that
 * is gone (`ReconnectRequired`).
 *
 * Turning an HTTP answer into one of these is `ErrorResponse`'s job; none of them carries a secret.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as internal from "./internal/oauthError.js"
import * as parseError from "./internal/parseError.js"
import * as protocol from "./ProtocolError.js"

/**
 * The brand of every error tokenfx defines, for `isOAuthError`. An error class outside this module
 * carries it with one line: `readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * The type of `TypeId`.
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What a caller should do about an error:
 *
 * - `reauthenticate`: the grant is gone; send the user through login again.
 * - `configuration`: the client is set up wrongly; retrying will not help.
 * - `retry`: transient; try again later (honouring `retryAfter` where present).
 * - `poll`: device flow; keep polling.
 *
 * @since 0.1.0
 * @category models
 */
export type Disposition = internal.Disposition

/**
 * Any error tokenfx defines: the OAuth errors of this module, and the errors of the stores, JWT and
 * PKCE helpers, the http package and the CLI. To narrow to this module's errors, use
 * `Schema.is(OAuthError.OAuthError)`.
 *
 * @since 0.4.0
 * @category models
 */
export interface TokenfxError extends Cause.YieldableError {
  readonly [TypeId]: TypeId
  readonly _tag: string
}

/**
 * Whether a value is an error tokenfx defines (it carries the brand): the one guard for all of them.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOAuthError = (u: unknown): u is TokenfxError => Predicate.hasProperty(u, TypeId)

/**
 * The request never got an answer: connection refused, reset, DNS failure or timeout. Always retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@tokenfx/core/TransportError")(
  "TransportError",
  {
    reason: Schema.Literal("Connection", "Timeout", "Redirect", "Insecure", "CrossOrigin"),
    description: Schema.optional(Schema.String),
    endpoint: Schema.optional(Schema.String),
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * Marks the error for `isOAuthError`.
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * The error's code, in OAuth's `snake_case` style.
   *
   * @since 0.1.0
   */
  readonly code = "transport_error"
  get disposition(): Disposition {
    return this.reason === "Connection" || this.reason === "Timeout" ? "retry" : "configuration"
  }
  override get message(): string {
    const where = this.endpoint === undefined ? "" : ` (${this.endpoint})`
    const what = this.description === undefined ? "" : `: ${this.description}`
    return `${this.reason} error${what}${where}`
  }
}

/**
 * An answer that is not what the protocol says: a 2xx whose body does not decode, or a non-OAuth
 * error page. `field` names the offending field; its value is never kept.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>("@tokenfx/core/MalformedResponse")(
  "MalformedResponse",
  {
    reason: Schema.String,
    field: Schema.optional(Schema.String),
    status: Schema.optional(Schema.Number),
    endpoint: Schema.optional(Schema.String)
  }
) {
  /**
   * Marks the error for `isOAuthError`.
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * The error's code, in OAuth's `snake_case` style.
   *
   * @since 0.1.0
   */
  readonly code = "malformed_response"
  /**
   * The error for a 2xx body that does not decode: it names the field of the first issue and what
   * was expected there, never the value it held.
   *
   * @since 0.4.0
   */
  static fromParseError(
    error: ParseResult.ParseError,
    context?: { readonly status?: number | undefined; readonly endpoint?: string | undefined }
  ): MalformedResponse {
    const { field, reason } = parseError.describe(error)
    return new MalformedResponse({ reason, field, status: context?.status, endpoint: context?.endpoint })
  }
  get disposition(): Disposition {
    return this.status !== undefined && this.status >= 500 ? "retry" : "configuration"
  }
  override get message(): string {
    const field = this.field === undefined ? "" : `${this.field}: `
    const context: Array<string> = []
    if (this.status !== undefined) context.push(`HTTP ${this.status}`)
    if (this.endpoint !== undefined) context.push(this.endpoint)
    return `${field}${this.reason}${context.length > 0 ? ` (${context.join(", ")})` : ""}`
  }
}

/**
 * The grant behind a key is dead (revoked, expired, or its refresh token was rejected) and was
 * removed: the user must log in again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReconnectRequired extends Schema.TaggedError<ReconnectRequired>("@tokenfx/core/ReconnectRequired")(
  "ReconnectRequired",
  {
    key: Schema.String,
    reason: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * Marks the error for `isOAuthError`.
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  /**
   * The error's code, in OAuth's `snake_case` style.
   *
   * @since 0.1.0
   */
  readonly code = "reconnect_required"
  /**
   * What the caller does about it: the user logs in again.
   *
   * @since 0.1.0
   */
  readonly disposition: Disposition = "reauthenticate"
  override get message(): string {
    return `Reconnect required for "${this.key}": ${this.reason}`
  }
}

/**
 * The errors a server answers with, one class per OAuth error code, their union `ProtocolError`, and
 * `fromCode`, which builds the class for a code.
 *
 * @since 0.1.0
 */
export * from "./ProtocolError.js"

/**
 * Every error of an OAuth exchange: the schema of the union, so that `Schema.is(OAuthError)` narrows
 * an unknown error to it.
 *
 * @since 0.4.0
 * @category schemas
 */
export const OAuthError = Schema.Union(
  protocol.ProtocolError,
  TransportError,
  MalformedResponse,
  ReconnectRequired
)

/**
 * Every error of an OAuth exchange.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthError = protocol.ProtocolError | TransportError | MalformedResponse | ReconnectRequired

/**
 * What any request to an authorization server can fail with, whatever it asked: rate limiting, an
 * unavailable or failing server, a code the request does not expect (an `UnknownOAuthError` that
 * keeps it), a 2xx that does not decode, or no answer at all.
 *
 * @since 0.4.0
 * @category models
 */
export type RequestError =
  | protocol.RateLimited
  | protocol.ServerError
  | protocol.TemporarilyUnavailable
  | protocol.UnknownOAuthError
  | TransportError
  | MalformedResponse

/**
 * Whether retrying the same request later may succeed.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (error: OAuthError): boolean => error.disposition === "retry"
