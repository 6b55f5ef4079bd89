/**
 * OAuth 2.0 tokens, expiry, errors, JWT claims, PKCE and the `TokenStore` interface for Effect.
 *
 * @since 0.1.0
 */

/**
 * When a token must be refreshed. The refresh window is `clamp(fraction × lifetime, min, max)` before
 * expiry, plus an allowance for clock skew: by default 10% of the lifetime, at most 5 minutes, so a
 * one-hour token refreshes at 55 minutes and a one-minute token at 54 seconds.
 *
 * Pure functions take `now` (epoch milliseconds or a `DateTime`); their effectful twins read `Clock`.
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
 * The OAuth 2.0 error model: one tagged class per error code (RFC 6749 section 5.2, RFC 6750 section 3,
 * RFC 7009, RFC 8628 section 3.5, RFC 8707, plus `rate_limited`), the errors around them, and the one
 * function that turns an HTTP answer into the right class.
 *
 * Every error says what to do about it through its `disposition`, and none carries a secret.
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
 * The token a client holds: the wire format a token endpoint answers with (`TokenResponse`, RFC 6749
 * section 5.1), the domain `Token` built from it, rotation, and the storage codec.
 *
 * Secrets are `Redacted` from the moment they are decoded.
 *
 * @since 0.1.0
 */
export * as Token from "./Token.js"

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
