/**
 * OAuth 2.0 tokens, expiry, errors, JWT claims, PKCE and the `TokenStore` interface for Effect.
 *
 * @since 0.1.0
 */

/**
 * From an HTTP answer to the error it means: the OAuth error response of a token endpoint (RFC 6749
 * section 5.2), the `WWW-Authenticate` challenge of a resource server (RFC 6750 section 3), the
 * server's `Retry-After`, and, when the body says nothing, the status alone.
 *
 * @since 0.4.0
 */
export * as ErrorResponse from "./ErrorResponse.js"

/**
 * When a token must be refreshed. The refresh window is `clamp(fraction × lifetime, min, max)` before
 * expiry, plus an allowance for clock skew: by default 10% of the lifetime, at most 5 minutes, so a
 * one-hour token refreshes at 55 minutes and a one-minute token at 54 seconds.
 *
 * `refreshAt` and `expiredAt` are instants of the token alone; `needsRefresh`, `isExpired` and
 * `timeToRefresh` compare them with the time from `Clock`, so that tests drive them with `TestClock`.
 * A token with no expiry never needs a proactive refresh: the 401 path covers it.
 *
 * @since 0.1.0
 */
export * as Expiry from "./Expiry.js"

/**
 * Reading JSON that nobody vouches for (a server's answer, a stored file, a JWT's claims) without
 * letting it set a prototype, nest deep enough to overflow the stack, or make an error message the
 * size of the input.
 *
 * @since 0.1.0
 */
export * as Json from "./Json.js"

/**
 * Reading a JWT's claims without verifying it: enough to learn when an access token expires, which
 * scopes it carries, or who it is for. Verification is the resource server's job.
 *
 * @since 0.1.0
 */
export * as Jwt from "./Jwt.js"

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
export * as OAuthError from "./OAuthError.js"

/**
 * Proof Key for Code Exchange (RFC 7636) and the random `state` and `nonce` values of an
 * authorization request, all drawn from WebCrypto.
 *
 * @since 0.1.0
 */
export * as Pkce from "./Pkce.js"

/**
 * The errors a server answers with: one tagged class per OAuth error code (RFC 6749 section 5.2,
 * RFC 6750 section 3, RFC 7009, RFC 8628 section 3.5, RFC 8707, OpenID Connect Core section 3.1.2.6,
 * plus `rate_limited`), and `UnknownOAuthError` for a code this library does not know.
 *
 * Every class is also exported by `OAuthError`, where the other errors and the guard live.
 *
 * @since 0.4.0
 */
export * as ProtocolError from "./ProtocolError.js"

/**
 * The `Retry-After` header (RFC 9110 section 10.2.3): how long a server asks a client to wait, as
 * delay-seconds or an HTTP date.
 *
 * @since 0.4.0
 */
export * as RetryAfter from "./RetryAfter.js"

/**
 * A token as stores keep it: JSON text in a versioned envelope (`{ format: 1, token }`), secrets
 * included, and back. The one place where secrets are unwrapped for storage; a stored text that does
 * not decode is a `MalformedStoredToken` that says where, never what it held.
 *
 * @since 0.4.0
 */
export * as StoredToken from "./StoredToken.js"

/**
 * The token a client holds: the wire format a token endpoint answers with (`TokenResponse`, RFC 6749
 * section 5.1), the domain `Token` built from it, rotation, and the storage codec.
 *
 * Secrets are `Redacted` from the moment they are decoded.
 *
 * @since 0.1.0
 */
export * as Token from "./Token.js"

/**
 * The health of one token at an instant, in the vocabulary the `tokenfx_tokens_active` gauge, the stores'
 * counts and `tokenfx status` share, decided by one function ({@link classify}) so that they cannot disagree:
 *
 * - `fresh`: valid, no refresh needed yet (a token with no expiry is always fresh);
 * - `refresh_window`: still valid, due for a refresh (the `Expiry` policy's window);
 * - `expired`: no longer valid, and a refresh can still renew it;
 * - `dead`: no longer valid and nothing can renew it (no refresh token, or an expired one): the user must
 *   log in again.
 *
 * @since 0.3.0
 */
export * as TokenHealth from "./TokenHealth.js"

/**
 * Where tokens live: a versioned entry per key (a user id, a client id), written by compare-and-set
 * so two writers never silently overwrite each other, and a lease per key so that processes sharing
 * a store refresh a grant once.
 *
 * This module declares the service and its in-memory implementation; file, encrypted, KeyValueStore
 * and SQL stores live in `@tokenfx/storage`.
 *
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"

/**
 * The `WWW-Authenticate` header (RFC 7235 section 4.1): the challenges a server answers a request it
 * refused with, e.g. `Bearer realm="api", error="invalid_token", error_description="expired"`.
 *
 * @since 0.4.0
 */
export * as WwwAuthenticate from "./WwwAuthenticate.js"
