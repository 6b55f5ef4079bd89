/**
 * The OAuth 2.0 error model: one tagged class per error code (RFC 6749 section 5.2, RFC 6750 section 3,
 * RFC 7009, RFC 8628 section 3.5, RFC 8707, plus `rate_limited`), the errors around them, and the one
 * function that turns an HTTP answer into the right class.
 *
 * Every error says what to do about it through its `disposition`, and none carries a secret.
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as headers from "./internal/headers.js"

/**
 * Marks every OAuth error, for `isOAuthError`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@tokenfx/core/OAuthError")

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
export type Disposition = "reauthenticate" | "configuration" | "retry" | "poll"

/**
 * The fields every OAuth error carries. `retryAfter` is the server's `Retry-After`, when it sent one.
 *
 * @since 0.1.0
 * @category models
 */
export const fields = {
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  endpoint: Schema.optional(Schema.String),
  retryAfter: Schema.optional(Schema.DurationFromSelf)
}

const describe = (self: {
  readonly code: string
  readonly description?: string | undefined
  readonly status?: number | undefined
  readonly endpoint?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}): string => {
  let message = self.code
  if (self.description !== undefined) message += `: ${self.description}`
  const context: Array<string> = []
  if (self.status !== undefined) context.push(`HTTP ${self.status}`)
  if (self.endpoint !== undefined) context.push(self.endpoint)
  if (self.retryAfter !== undefined) context.push(`retry after ${Duration.format(self.retryAfter)}`)
  return context.length > 0 ? `${message} (${context.join(", ")})` : message
}

/**
 * The class of the error for one OAuth error code: a `Schema.TaggedError` over `fields` (and any
 * `Extra` fields), whose instances also carry the brand, their code and their disposition.
 */
interface ProtocolErrorClass<Self, Tag extends string, Code extends string, Extra extends Schema.Struct.Fields>
  extends
    Schema.Class<
      Self,
      { readonly _tag: Schema.tag<Tag> } & typeof fields & Extra,
      Schema.Struct.Encoded<{ readonly _tag: Schema.tag<Tag> } & typeof fields & Extra>,
      Schema.Struct.Context<typeof fields & Extra>,
      Schema.Struct.Constructor<typeof fields & Extra>,
      { readonly [TypeId]: TypeId; readonly code: Code; readonly disposition: Disposition },
      Cause.YieldableError
    >
{
  readonly _tag: Tag
}

// The shape all 17 code classes share; `Self` comes first, as in `Schema.TaggedError`, because
// TypeScript cannot infer it while the other parameters are inferred.
const ProtocolErrorBase =
  <Self>() =>
  <const Tag extends string, const Code extends string, Extra extends Schema.Struct.Fields = {}>(
    tag: Tag,
    code: Code,
    disposition: Disposition,
    extra?: Extra
  ): ProtocolErrorClass<Self, Tag, Code, Extra> => {
    class Base extends Schema.TaggedError<Base>(`@tokenfx/core/${tag}`)(tag, { ...fields, ...extra }) {
      readonly [TypeId]: TypeId = TypeId
      readonly code: Code = code
      readonly disposition: Disposition = disposition
      override get message(): string {
        return describe(this)
      }
    }
    return Base as any
  }

/**
 * `invalid_request`: the request is missing a parameter, repeats one, or is otherwise malformed.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest
  extends ProtocolErrorBase<InvalidRequest>()("InvalidRequest", "invalid_request", "configuration")
{}

/**
 * `invalid_client`: client authentication failed (unknown client, wrong secret, unsupported method).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidClient
  extends ProtocolErrorBase<InvalidClient>()("InvalidClient", "invalid_client", "configuration")
{}

/**
 * The refresh token, authorization code or device code is invalid, expired, revoked or already used.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidGrant
  extends ProtocolErrorBase<InvalidGrant>()("InvalidGrant", "invalid_grant", "reauthenticate")
{}

/**
 * `unauthorized_client`: this client may not use this grant type.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnauthorizedClient
  extends ProtocolErrorBase<UnauthorizedClient>()("UnauthorizedClient", "unauthorized_client", "configuration")
{}

/**
 * `unsupported_grant_type`: the server does not support this grant type.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedGrantType
  extends ProtocolErrorBase<UnsupportedGrantType>()("UnsupportedGrantType", "unsupported_grant_type", "configuration")
{}

/**
 * `invalid_scope`: the requested scope is invalid, unknown, or exceeds what was granted.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidScope extends ProtocolErrorBase<InvalidScope>()("InvalidScope", "invalid_scope", "configuration") {}

/**
 * The access token was rejected by a resource server (RFC 6750). `challenge` keeps the parsed
 * `WWW-Authenticate` parameters, which never contain the token.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidToken extends ProtocolErrorBase<InvalidToken>()("InvalidToken", "invalid_token", "reauthenticate", {
  challenge: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}) {}

/**
 * The token lacks a scope the resource needs; `scope` is the scope the server asked for.
 *
 * @since 0.1.0
 * @category errors
 */
export class InsufficientScope extends ProtocolErrorBase<InsufficientScope>()(
  "InsufficientScope",
  "insufficient_scope",
  "reauthenticate",
  { scope: Schema.optional(Schema.String) }
) {
  override get message(): string {
    const base = describe(this)
    return this.scope === undefined ? base : `${base} [required scope: ${this.scope}]`
  }
}

/**
 * `access_denied`: the resource owner or the server denied the request.
 *
 * @since 0.1.0
 * @category errors
 */
export class AccessDenied
  extends ProtocolErrorBase<AccessDenied>()("AccessDenied", "access_denied", "reauthenticate")
{}

/**
 * Device flow: the user has not finished yet; keep polling at the same interval.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationPending
  extends ProtocolErrorBase<AuthorizationPending>()("AuthorizationPending", "authorization_pending", "poll")
{}

/**
 * Device flow: keep polling, 5 seconds slower (RFC 8628 section 3.5), or at `interval` where the
 * server named the new interval (GitHub does).
 *
 * @since 0.1.0
 * @category errors
 */
export class SlowDown extends ProtocolErrorBase<SlowDown>()("SlowDown", "slow_down", "poll", {
  interval: Schema.optional(Schema.DurationFromSelf)
}) {}

/**
 * Device flow: the device code expired; start again.
 *
 * @since 0.1.0
 * @category errors
 */
export class ExpiredToken
  extends ProtocolErrorBase<ExpiredToken>()("ExpiredToken", "expired_token", "reauthenticate")
{}

/**
 * The provider is rate limiting this client (`rate_limited` or HTTP 429).
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends ProtocolErrorBase<RateLimited>()("RateLimited", "rate_limited", "retry") {}

/**
 * `server_error`: the server met an unexpected condition; worth retrying later.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends ProtocolErrorBase<ServerError>()("ServerError", "server_error", "retry") {}

/**
 * `temporarily_unavailable`: the server is overloaded or under maintenance; worth retrying later.
 *
 * @since 0.1.0
 * @category errors
 */
export class TemporarilyUnavailable
  extends ProtocolErrorBase<TemporarilyUnavailable>()("TemporarilyUnavailable", "temporarily_unavailable", "retry")
{}

/**
 * Revocation: the server does not revoke this kind of token (RFC 7009 section 2.2.1).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedTokenType
  extends ProtocolErrorBase<UnsupportedTokenType>()("UnsupportedTokenType", "unsupported_token_type", "configuration")
{}

/**
 * The requested resource indicator is not acceptable (RFC 8707).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTarget
  extends ProtocolErrorBase<InvalidTarget>()("InvalidTarget", "invalid_target", "configuration")
{}

/**
 * The user must interact with the provider again (OpenID Connect Core section 3.1.2.6): a sign-in
 * policy, MFA or a password change stands between the grant and a new token. The grant is not dead:
 * send the user through the authorization flow. `suberror` keeps the provider's detail (Entra ID:
 * `basic_action`, `additional_action`, `message_only`, `user_password_expired`, `bad_token`).
 *
 * @since 0.3.0
 * @category errors
 */
export class InteractionRequired extends ProtocolErrorBase<InteractionRequired>()(
  "InteractionRequired",
  "interaction_required",
  "reauthenticate",
  { suberror: Schema.optional(Schema.String) }
) {}

/**
 * The user has not consented to (all of) the requested scopes (OpenID Connect Core section 3.1.2.6):
 * ask for consent through the authorization flow.
 *
 * @since 0.3.0
 * @category errors
 */
export class ConsentRequired
  extends ProtocolErrorBase<ConsentRequired>()("ConsentRequired", "consent_required", "reauthenticate")
{}

/**
 * The user must sign in again (OpenID Connect Core section 3.1.2.6).
 *
 * @since 0.3.0
 * @category errors
 */
export class LoginRequired
  extends ProtocolErrorBase<LoginRequired>()("LoginRequired", "login_required", "reauthenticate")
{}

/**
 * A second factor is required before a token is issued (Auth0's `mfa_required`). `mfaToken`, when the
 * provider sent one, continues the MFA challenge; it is a secret and stays `Redacted`.
 *
 * @since 0.3.0
 * @category errors
 */
export class MfaRequired extends ProtocolErrorBase<MfaRequired>()("MfaRequired", "mfa_required", "reauthenticate", {
  mfaToken: Schema.optional(Schema.Redacted(Schema.String))
}) {}

/**
 * An error code this library does not know; `code` keeps it as sent. 5xx statuses are retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownOAuthError extends Schema.TaggedError<UnknownOAuthError>("@tokenfx/core/UnknownOAuthError")(
  "UnknownOAuthError",
  { ...fields, code: Schema.String }
) {
  /**
   * Marks the error for `isOAuthError`.
   *
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  get disposition(): Disposition {
    return this.status !== undefined && this.status >= 500 ? "retry" : "configuration"
  }
  override get message(): string {
    return describe(this)
  }
}

/**
 * The request never got an answer: connection refused, reset, DNS failure or timeout. Always retryable.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>("@tokenfx/core/TransportError")(
  "TransportError",
  {
    reason: Schema.Literal("Connection", "Timeout", "Redirect", "Insecure"),
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
 * An error the server answered with, one class per OAuth error code.
 *
 * @since 0.1.0
 * @category models
 */
export type ProtocolError =
  | InvalidRequest
  | InvalidClient
  | InvalidGrant
  | UnauthorizedClient
  | UnsupportedGrantType
  | InvalidScope
  | InvalidToken
  | InsufficientScope
  | AccessDenied
  | AuthorizationPending
  | SlowDown
  | ExpiredToken
  | RateLimited
  | ServerError
  | TemporarilyUnavailable
  | UnsupportedTokenType
  | InvalidTarget
  | InteractionRequired
  | ConsentRequired
  | LoginRequired
  | MfaRequired
  | UnknownOAuthError

/**
 * Every error of this module.
 *
 * @since 0.1.0
 * @category models
 */
export type OAuthError = ProtocolError | TransportError | MalformedResponse | ReconnectRequired

/**
 * Whether a value is one of this module's errors.
 *
 * @since 0.1.0
 * @category guards
 */
export const isOAuthError = (u: unknown): u is OAuthError => Predicate.hasProperty(u, TypeId)

/**
 * Whether retrying the same request later may succeed.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (error: OAuthError): boolean => error.disposition === "retry"

/**
 * The class for each known OAuth error code.
 *
 * @since 0.1.0
 * @category constructors
 */
export const byCode = {
  invalid_request: InvalidRequest,
  invalid_client: InvalidClient,
  invalid_grant: InvalidGrant,
  unauthorized_client: UnauthorizedClient,
  unsupported_grant_type: UnsupportedGrantType,
  invalid_scope: InvalidScope,
  invalid_token: InvalidToken,
  insufficient_scope: InsufficientScope,
  access_denied: AccessDenied,
  authorization_pending: AuthorizationPending,
  slow_down: SlowDown,
  expired_token: ExpiredToken,
  rate_limited: RateLimited,
  server_error: ServerError,
  temporarily_unavailable: TemporarilyUnavailable,
  unsupported_token_type: UnsupportedTokenType,
  invalid_target: InvalidTarget,
  interaction_required: InteractionRequired,
  consent_required: ConsentRequired,
  login_required: LoginRequired,
  mfa_required: MfaRequired
} as const

/**
 * Provider codes that mean a standard one, so that a dead grant is recognised as `InvalidGrant` and a
 * refused client as `InvalidClient` whatever the provider calls them (GitHub: "Troubleshooting OAuth
 * app access token request errors").
 *
 * @since 0.2.0
 * @category constructors
 */
export const aliases = {
  bad_refresh_token: "invalid_grant",
  bad_verification_code: "invalid_grant",
  incorrect_client_credentials: "invalid_client"
} as const

/**
 * The fields common to every protocol error.
 *
 * @since 0.1.0
 * @category models
 */
export interface Details {
  readonly description?: string | undefined
  readonly uri?: string | undefined
  readonly status?: number | undefined
  readonly endpoint?: string | undefined
  readonly retryAfter?: Duration.Duration | undefined
}

/**
 * Builds the class for an OAuth error code, or `UnknownOAuthError` keeping a code it does not know.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromCode = (code: string, details: Details = {}): ProtocolError => {
  const canonical = Object.hasOwn(aliases, code) ? aliases[code as keyof typeof aliases] : code
  if (!Object.hasOwn(byCode, canonical)) return new UnknownOAuthError({ ...details, code })
  const known: new(details: Details) => ProtocolError = byCode[canonical as keyof typeof byCode]
  return new known(details)
}

// An error code is a short token (RFC 6749 section 5.2); a longer one is cut before it is kept.
const maxCodeLength = 128

/**
 * An HTTP answer, as far as error mapping needs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
  readonly endpoint?: string | undefined
}

/**
 * Turns a non-2xx HTTP answer into the error for its code. Reads a JSON body (`error`,
 * `error_description`, `error_uri`), the `WWW-Authenticate` challenge, and `Retry-After` (seconds
 * or an HTTP date, measured from `now` in epoch milliseconds). A body that is not JSON, such as an
 * HTML 500 page, is mapped by its status alone; its content is never copied into the error:
 * 400 `InvalidRequest`, 401 `InvalidClient` (`InvalidToken` under a bare Bearer challenge),
 * 403 `AccessDenied`, 429 `RateLimited`, 503 `TemporarilyUnavailable`, other 5xx `ServerError`,
 * anything else `MalformedResponse`. The server's texts (code, description, URI, challenge
 * parameters) are cut to about a kilobyte; a `__proto__` member is ignored.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromHttp = (answer: HttpAnswer, now: number): ProtocolError | MalformedResponse => {
  const details: Details = {
    status: answer.status,
    endpoint: answer.endpoint,
    retryAfter: headers.parseRetryAfter(headerOf(answer.headers, "retry-after"), now)
  }
  const body = headers.parseJsonObject(answer.body)
  if (body !== undefined && typeof body["error"] === "string" && body["error"].length > 0) {
    return fromCode(headers.truncate(body["error"], maxCodeLength), {
      ...details,
      description: typeof body["error_description"] === "string"
        ? headers.truncate(body["error_description"])
        : undefined,
      uri: typeof body["error_uri"] === "string" ? headers.truncate(body["error_uri"]) : undefined
    })
  }
  const challenges = headers.parseWwwAuthenticate(headerOf(answer.headers, "www-authenticate") ?? "")
  for (const challenge of challenges) {
    const error = fromChallenge(challenge, details)
    if (error !== undefined) return error
  }
  switch (answer.status) {
    case 400:
      return new InvalidRequest(details)
    case 401: {
      // A resource server's bare Bearer challenge rejects the token (RFC 6750 section 3); any other
      // 401 is the token endpoint refusing the client (RFC 6749 section 5.2).
      const bearer = challenges.find((challenge) => /^(?:bearer|dpop)$/i.test(challenge.scheme))
      return bearer === undefined
        ? new InvalidClient(details)
        : new InvalidToken({ ...details, challenge: bearer.params })
    }
    case 403:
      return new AccessDenied(details)
    case 429:
      return new RateLimited(details)
    case 503:
      return new TemporarilyUnavailable(details)
  }
  if (answer.status >= 500) return new ServerError(details)
  return new MalformedResponse({
    reason: body === undefined ? "expected an OAuth error body, got something else" : "error body has no error code",
    status: answer.status,
    endpoint: answer.endpoint
  })
}

const headerOf = (record: Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const direct = record[name]
  if (direct !== undefined) return direct
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === name) return record[key]
  }
  return undefined
}

/**
 * Parses a `Retry-After` header value: delay-seconds or an HTTP date, relative to `now` in epoch
 * milliseconds. A date in the past is a zero delay; anything else unreadable is `undefined`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseRetryAfter: (value: string | undefined, now: number) => Duration.Duration | undefined =
  headers.parseRetryAfter

/**
 * A `WWW-Authenticate` challenge (RFC 7235 section 4.1): its scheme and its parameters, with
 * parameter names in lower case.
 *
 * @since 0.1.0
 * @category models
 */
export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string | undefined
}

/**
 * Parses a `WWW-Authenticate` header into its challenges, e.g.
 * `Bearer realm="api", error="invalid_token", error_description="expired"`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseWwwAuthenticate: (header: string) => ReadonlyArray<Challenge> = headers.parseWwwAuthenticate

/**
 * The error a resource server's challenge describes (RFC 6750 section 3.1), if it names one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromChallenge = (
  challenge: Challenge,
  details: Details = {}
): InvalidToken | InsufficientScope | ProtocolError | undefined => {
  const raw = challenge.params["error"]
  if (raw === undefined) return undefined
  const code = headers.truncate(raw, maxCodeLength)
  // What a server wrote is kept, but never more than a short text of it.
  const params = Object.fromEntries(
    Object.entries(challenge.params).map(([name, value]) => [name, headers.truncate(value)])
  )
  const withChallenge: Details = {
    ...details,
    description: params["error_description"] ?? details.description,
    uri: params["error_uri"] ?? details.uri
  }
  switch (code) {
    case "invalid_token":
      return new InvalidToken({ ...withChallenge, challenge: params })
    case "insufficient_scope":
      return new InsufficientScope({ ...withChallenge, scope: params["scope"] })
    default:
      return fromCode(code, withChallenge)
  }
}
