/**
 * The conversation with an authorization server: every grant, revocation, introspection, the device
 * flow and discovery, with client authentication, timeouts and backoff that honours `Retry-After`.
 * Every answer is a core `Token` or a typed error.
 *
 * @since 0.1.0
 */
import type * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"

/**
 * The errors a grant can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type GrantError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.InvalidGrant
  | OAuthError.UnauthorizedClient
  | OAuthError.UnsupportedGrantType
  | OAuthError.InvalidScope
  | OAuthError.InvalidTarget
  | OAuthError.AccessDenied
  | OAuthError.RateLimited
  | OAuthError.ServerError
  | OAuthError.TemporarilyUnavailable
  | OAuthError.UnknownOAuthError
  | OAuthError.TransportError
  | OAuthError.MalformedResponse

/**
 * Options shared by the grants that request a token for a scope or a resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeOptions {
  readonly scope?: ReadonlyArray<string> | string | undefined
  /** RFC 8707 resource indicators. */
  readonly resource?: ReadonlyArray<string> | string | undefined
  /** The `audience` parameter some servers use instead of `resource`. */
  readonly audience?: string | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenEndpoint extends Context.Tag("@tokenfx/http/TokenEndpoint")<TokenEndpoint, {
  /**
   * The refresh token grant (RFC 6749 section 6) for `token`'s refresh token. The result is
   * `Token.rotate(token, response)`: the previous refresh token and scopes are kept where the server
   * omits them. A token without a refresh token fails with `InvalidGrant`.
   */
  readonly refresh: (token: Token.Token, options?: ScopeOptions) => Effect.Effect<Token.Token, GrantError>
  /** The client credentials grant (RFC 6749 section 4.4). */
  readonly clientCredentials: (options?: ScopeOptions) => Effect.Effect<Token.Token, GrantError>
  /** Revocation (RFC 7009). */
  readonly revoke: (
    token: Redacted.Redacted<string>,
    hint?: "access_token" | "refresh_token" | undefined
  ) => Effect.Effect<void, RevocationError>
}>() {}

/**
 * The errors a revocation can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RevocationError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.UnsupportedTokenType
  | OAuthError.RateLimited
  | OAuthError.ServerError
  | OAuthError.TemporarilyUnavailable
  | OAuthError.UnknownOAuthError
  | OAuthError.TransportError
  | OAuthError.MalformedResponse
