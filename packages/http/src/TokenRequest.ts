/**
 * What a client asks the token endpoint for: the scope and resource options every grant shares, the
 * parameters of an extension grant, the authorization code and token exchange requests, and the grant
 * type URIs. Plain data, shared by `TokenEndpoint`, `AuthorizationCode` and the grants built on them.
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"

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
 * The parameters of an extension grant. Secret values stay `Redacted`; an array repeats the parameter.
 *
 * @since 0.1.0
 * @category models
 */
export type GrantParameters = Readonly<
  Record<string, string | Redacted.Redacted<string> | ReadonlyArray<string> | undefined>
>

/**
 * The code of an authorization response and what it must be exchanged with.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationCodeOptions {
  readonly code: Redacted.Redacted<string>
  readonly verifier: Redacted.Redacted<string>
  readonly redirectUri: string
  readonly resource?: ReadonlyArray<string> | string | undefined
  /** The `nonce` sent with the authorization request, which the ID token must carry. */
  readonly nonce?: string | undefined
}

/**
 * A token exchange request (RFC 8693 section 2.1).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenExchangeOptions extends ScopeOptions {
  readonly subjectToken: Redacted.Redacted<string>
  /** Default `urn:ietf:params:oauth:token-type:access_token`. */
  readonly subjectTokenType?: string | undefined
  readonly actorToken?: Redacted.Redacted<string> | undefined
  readonly actorTokenType?: string | undefined
  readonly requestedTokenType?: string | undefined
}

/**
 * The grant type of the device authorization grant (RFC 8628 section 3.4).
 *
 * @since 0.1.0
 * @category constants
 */
export const deviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code"

/**
 * The grant type of token exchange (RFC 8693 section 2.1).
 *
 * @since 0.1.0
 * @category constants
 */
export const tokenExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

/**
 * The grant type of the JWT bearer grant (RFC 7523 section 2.1).
 *
 * @since 0.1.0
 * @category constants
 */
export const jwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

/**
 * The subject token type of a token exchange unless told otherwise (RFC 8693 section 3).
 *
 * @since 0.1.0
 * @category constants
 */
export const accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
