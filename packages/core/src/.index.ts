/**
 * OAuth 2.0 tokens, expiry, errors, JWT claims, PKCE and the `TokenStore` interface for Effect.
 *
 * @since 0.1.0
 */
