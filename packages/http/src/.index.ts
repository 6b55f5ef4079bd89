/**
 * The OAuth 2.0 token endpoint client, `TokenManager` and `AuthorizedClient` for Effect.
 *
 * @since 0.1.0
 */
