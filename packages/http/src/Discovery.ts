/**
 * Finding an authorization server's endpoints from its issuer: OAuth 2.0 Authorization Server
 * Metadata (RFC 8414, `/.well-known/oauth-authorization-server`) and OpenID Connect Discovery
 * (`/.well-known/openid-configuration`). The document's `issuer` must be the one asked for, or the
 * document is refused: a server that answers for another issuer could hand out any endpoint.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Backoff from "./Backoff.js"
import * as destination from "./internal/destination.js"
import * as narrow from "./internal/narrow.js"
import * as transport from "./internal/transport.js"
import type * as TokenEndpointError from "./TokenEndpointError.js"

const Strings = Schema.Array(Schema.String)

/**
 * The fields of an authorization server's metadata that tokenfx reads (RFC 8414 section 2, RFC 8628,
 * RFC 9207), with every other field kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Metadata = Schema.Struct(
  {
    issuer: Schema.String,
    authorization_endpoint: Schema.optional(Schema.String),
    token_endpoint: Schema.optional(Schema.String),
    jwks_uri: Schema.optional(Schema.String),
    userinfo_endpoint: Schema.optional(Schema.String),
    registration_endpoint: Schema.optional(Schema.String),
    revocation_endpoint: Schema.optional(Schema.String),
    introspection_endpoint: Schema.optional(Schema.String),
    device_authorization_endpoint: Schema.optional(Schema.String),
    scopes_supported: Schema.optional(Strings),
    response_types_supported: Schema.optional(Strings),
    grant_types_supported: Schema.optional(Strings),
    token_endpoint_auth_methods_supported: Schema.optional(Strings),
    code_challenge_methods_supported: Schema.optional(Strings),
    authorization_response_iss_parameter_supported: Schema.optional(Schema.Boolean)
  },
  Json.UnknownFields
).annotations({ identifier: "AuthorizationServerMetadata" })

/**
 * An authorization server's metadata (RFC 8414, OpenID Connect Discovery), unknown fields kept.
 *
 * @since 0.1.0
 * @category models
 */
export type Metadata = typeof Metadata.Type

/**
 * The metadata document names another issuer than the one asked for (RFC 8414 section 3.3, OpenID
 * Connect Discovery section 4.3). Its endpoints must not be used.
 *
 * @since 0.1.0
 * @category errors
 */
export class IssuerMismatch extends Schema.TaggedError<IssuerMismatch>("@tokenfx/http/IssuerMismatch")(
  "IssuerMismatch",
  { expected: Schema.String, actual: Schema.String, endpoint: Schema.String }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `The metadata at ${this.endpoint} is for issuer "${this.actual}", not "${this.expected}"`
  }
}

/**
 * The errors discovery can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DiscoveryError = IssuerMismatch | TokenEndpointError.RequestError

/**
 * Which metadata document to read. `"oauth-authorization-server"` is RFC 8414's,
 * `"openid-configuration"` OpenID Connect's.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "oauth-authorization-server" | "openid-configuration"

/**
 * How discovery reads the metadata: which document, the timeout, the backoff, plain HTTP.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Which document to read; by default RFC 8414's, then OpenID Connect's when the first is not found. */
  readonly kind?: Kind | undefined
  /** Per request; default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  readonly backoff?: Backoff.Options | undefined
  /** Allow a plain-HTTP issuer that is not a loopback address (tests only). */
  readonly allowInsecureHttp?: boolean | undefined
  /** The largest metadata document read, in bytes; reading stops there. Default 1 MiB. */
  readonly maxBodySize?: number | undefined
}

/**
 * Where the metadata document of `issuer` lives. RFC 8414 puts the well-known segment before the
 * issuer's path; OpenID Connect appends it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const metadataUrl = (issuer: string, kind: Kind): string => {
  if (!URL.canParse(issuer)) return issuer
  const url = new URL(issuer)
  const path = url.pathname.replace(/\/+$/, "")
  return kind === "oauth-authorization-server"
    ? `${url.origin}/.well-known/oauth-authorization-server${path}`
    : `${url.origin}${path}/.well-known/openid-configuration`
}

const narrowed = narrow.narrow(narrow.serverTags)

const endpointFields = [
  "authorization_endpoint",
  "token_endpoint",
  "jwks_uri",
  "userinfo_endpoint",
  "registration_endpoint",
  "revocation_endpoint",
  "introspection_endpoint",
  "device_authorization_endpoint"
] as const

// TLS at every endpoint (RFC 6749 sections 3.1 and 3.2). An HTTPS issuer names HTTPS endpoints only: a
// plain-HTTP one on loopback would otherwise be used, the client secret sent in the clear. A plain-HTTP
// issuer (loopback, or allowed) names endpoints as its own requests are checked.
const insecureField = (metadata: Metadata, issuer: string, allowInsecure: boolean) => {
  const secureOnly = URL.canParse(issuer) && new URL(issuer).protocol === "https:"
  return endpointFields.find((field) => {
    const url = metadata[field]
    if (url === undefined) return false
    if (!URL.canParse(url)) return true
    const parsed = new URL(url)
    return secureOnly ? parsed.protocol !== "https:" : !destination.isSecure(parsed, allowInsecure)
  })
}

const checkEndpoints = (
  metadata: Metadata,
  issuer: string,
  answer: transport.Answer,
  allowInsecure: boolean
): Either.Either<Metadata, OAuthError.MalformedResponse> => {
  const field = insecureField(metadata, issuer, allowInsecure)
  return field === undefined ? Either.right(metadata) : Either.left(
    new OAuthError.MalformedResponse({
      reason: "is not an HTTPS URL",
      field,
      status: answer.status,
      endpoint: answer.endpoint
    })
  )
}

const decodeMetadata = transport.decode(Metadata)

const fetchKind = (
  client: HttpClient.HttpClient,
  issuer: string,
  kind: Kind,
  settings: transport.Settings,
  policy: Backoff.Policy
): Effect.Effect<Metadata, DiscoveryError> =>
  transport.send(client, { method: "GET", url: metadataUrl(issuer, kind) }, settings).pipe(
    Effect.mapError(narrowed),
    Backoff.retry({ policy }),
    Effect.flatMap((answer) =>
      Either.flatMap(
        decodeMetadata(answer),
        (metadata): Either.Either<Metadata, IssuerMismatch | OAuthError.MalformedResponse> =>
          metadata.issuer === issuer
            ? checkEndpoints(metadata, issuer, answer, settings.allowInsecure)
            : Either.left(new IssuerMismatch({ expected: issuer, actual: metadata.issuer, endpoint: answer.endpoint }))
      )
    )
  )

const isNotFound = (error: DiscoveryError): boolean =>
  "status" in error && error.status !== undefined && error.status >= 400 && error.status < 500 &&
  error.status !== 429

/**
 * Reads the metadata of `issuer` and checks that it names the same issuer, character for character,
 * and that its endpoints are absolute URLs as safe as the issuer: HTTPS for an HTTPS issuer (else a
 * `MalformedResponse` naming the field); endpoints on other hosts are the issuer's to name.
 * Without `kind`, RFC 8414's document is read first and OpenID Connect's when the server has no such
 * document (a 4xx answer).
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover: (
  issuer: string,
  options?: Options
) => Effect.Effect<Metadata, DiscoveryError, HttpClient.HttpClient> = Effect.fn("Discovery.discover")(
  function*(issuer: string, options: Options = {}) {
    const settings = transport.settings(options)
    const checked = destination.checkEndpoint(issuer, settings.allowInsecure)
    if (Either.isRight(checked)) yield* Effect.annotateCurrentSpan("server.address", checked.right.host)
    yield* checked
    const client = yield* HttpClient.HttpClient
    const policy = Backoff.policy(options.backoff)
    if (options.kind !== undefined) return yield* fetchKind(client, issuer, options.kind, settings, policy)
    return yield* fetchKind(client, issuer, "oauth-authorization-server", settings, policy).pipe(
      Effect.catchIf(isNotFound, () => fetchKind(client, issuer, "openid-configuration", settings, policy))
    )
  }
)
