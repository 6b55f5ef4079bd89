/**
 * The errors a server answers with: one tagged class per OAuth error code (RFC 6749 section 5.2,
 * RFC 6750 section 3, RFC 7009, RFC 8628 section 3.5, RFC 8707, OpenID Connect Core section 3.1.2.6,
 * plus `rate_limited`), and `UnknownOAuthError` for a code this library does not know.
 *
 * Every class is also exported by `OAuthError`, where the other errors and the guard live.
 *
 * @since 0.4.0
 */
import type * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import type { Disposition } from "./internal/oauthError.js"
import { describe, fields, ProtocolErrorBase, TypeId } from "./internal/oauthError.js"

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
 * A resource server's claims challenge (`error="insufficient_claims"`, Microsoft Entra ID's Continuous
 * Access Evaluation and Conditional Access): the token lacks claims a refresh cannot add. `claims` is
 * the decoded claims request (JSON text), to send as the `claims` parameter of a new authorization
 * request; it is absent when the challenge carried none that decodes.
 *
 * @since 0.4.0
 * @category errors
 */
export class InsufficientClaims extends ProtocolErrorBase<InsufficientClaims>()(
  "InsufficientClaims",
  "insufficient_claims",
  "reauthenticate",
  { claims: Schema.optional(Schema.String) }
) {
  override get message(): string {
    const base = describe(this)
    return this.claims === undefined ? base : `${base} [re-authenticate asking for the claims: ${this.claims}]`
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
 * server named a new interval longer than that (GitHub does).
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
   * Marks the error for `OAuthError.isOAuthError`.
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
 * An error the server answered with, one class per OAuth error code: the schema of the union, for
 * `Schema.is(ProtocolError)` and for decoding.
 *
 * @since 0.4.0
 * @category schemas
 */
export const ProtocolError = Schema.Union(
  InvalidRequest,
  InvalidClient,
  InvalidGrant,
  UnauthorizedClient,
  UnsupportedGrantType,
  InvalidScope,
  InvalidToken,
  InsufficientScope,
  InsufficientClaims,
  AccessDenied,
  AuthorizationPending,
  SlowDown,
  ExpiredToken,
  RateLimited,
  ServerError,
  TemporarilyUnavailable,
  UnsupportedTokenType,
  InvalidTarget,
  InteractionRequired,
  ConsentRequired,
  LoginRequired,
  MfaRequired,
  UnknownOAuthError
)

/**
 * An error the server answered with, one class per OAuth error code.
 *
 * @since 0.1.0
 * @category models
 */
export type ProtocolError = typeof ProtocolError.Type

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
  insufficient_claims: InsufficientClaims,
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
 * Builds the class for an OAuth error code (or a provider's alias of one), or `UnknownOAuthError`
 * keeping a code it does not know.
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
