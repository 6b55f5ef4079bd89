/**
 * What the operations of a `TokenEndpoint` fail with: one union per operation, so that each
 * signature is honest (a revocation cannot fail with `AuthorizationPending`), and `MissingEndpoint`
 * for an operation whose endpoint is unknown.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Schema from "effect/Schema"
import type * as AuthorizationCode from "./AuthorizationCode.js"
import type * as IdToken from "./IdToken.js"

/**
 * What any request to the authorization server can fail with, whatever the operation: rate limiting,
 * an unavailable or failing server, a code the operation does not expect (an `UnknownOAuthError` that
 * keeps it), a 2xx that does not decode, or no answer at all (core's `OAuthError.RequestError`).
 *
 * @since 0.1.0
 * @category errors
 */
export type RequestError = OAuthError.RequestError

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
  | OAuthError.InteractionRequired
  | OAuthError.ConsentRequired
  | OAuthError.LoginRequired
  | OAuthError.MfaRequired
  | RequestError

/**
 * An operation needs an endpoint that was neither configured nor discovered.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingEndpoint extends Schema.TaggedError<MissingEndpoint>("@tokenfx/http/MissingEndpoint")(
  "MissingEndpoint",
  { endpoint: Schema.Literal("authorization", "revocation", "introspection", "device_authorization") }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `No ${this.endpoint} endpoint is configured, nor in the server's metadata`
  }
}

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
  | RequestError
  | MissingEndpoint

/**
 * The errors an introspection can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type IntrospectionError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | RequestError
  | MissingEndpoint

/**
 * The errors a device authorization request can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DeviceAuthorizationError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.UnauthorizedClient
  | OAuthError.InvalidScope
  | OAuthError.InvalidTarget
  | OAuthError.AccessDenied
  | RequestError
  | MissingEndpoint

/**
 * The errors polling for a device token ends with: a grant error, `AccessDenied` when the user said
 * no, `ExpiredToken` when the device code ran out first, `InvalidIdToken` when an ID token came back
 * and failed verification. Pending and `slow_down` are handled inside.
 *
 * @since 0.1.0
 * @category errors
 */
export type DeviceTokenError = GrantError | OAuthError.ExpiredToken | IdToken.InvalidIdToken

/**
 * The errors of exchanging an authorization response: its checks, then the grant.
 *
 * @since 0.1.0
 * @category errors
 */
export type ExchangeCodeError =
  | GrantError
  | IdToken.InvalidIdToken
  | AuthorizationCode.AuthorizationError
  | AuthorizationCode.InvalidAuthorizationResponse
