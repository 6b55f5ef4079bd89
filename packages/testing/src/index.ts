/**
 * An in-memory OAuth 2.0 authorization server for tokenfx tests (the oidc-provider harness and the store conformance suite are imported from their own paths).
 *
 * @since 0.1.0
 */

/**
 * An in-memory OAuth 2.0 authorization server for tests on `TestClock`, reached through the
 * `HttpClient` its layer provides (no sockets): the token endpoint (client credentials, refresh token
 * with rotation and reuse detection, authorization code with PKCE, device code), revocation
 * (RFC 7009), introspection (RFC 7662), device authorization (RFC 8628), metadata (RFC 8414) and a
 * protected resource. Every expiry reads `Clock`, so `TestClock.adjust` expires tokens.
 *
 * Tests steer it: `authorize` and `approveDevice` stand in for the user, `failNext` makes the next
 * answers fail (429 with `Retry-After`, 503, an HTML 500, a slow answer), `revokeAll` kills every
 * grant, and `stats` counts what the client did.
 *
 * @example
 * ```ts
 * import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
 * import * as Effect from "effect/Effect"
 * import * as TestClock from "effect/TestClock"
 *
 * // in an `it.effect` test, on TestClock
 * export const test = Effect.gen(function*() {
 *   const server = yield* AuthorizationServer.AuthorizationServer
 *   yield* server.issueToken() // hand it to the code under test, which uses the provided HttpClient
 *   yield* TestClock.adjust("1 hour")
 *   const stats = yield* server.stats
 *   return stats.tokensIssued.refresh_token // 1 if the code refreshed the expired token
 * }).pipe(Effect.provide(AuthorizationServer.layer({ accessTokenTtl: "1 hour" })))
 * ```
 *
 * @since 0.1.0
 */
export * as AuthorizationServer from "./AuthorizationServer.js"

/**
 * Provider dialects for the in-memory `AuthorizationServer`: the paths, answer shapes, error shapes,
 * rotation policy and rate-limit headers of GitHub, Google, Microsoft Entra ID, Auth0, Okta and
 * Keycloak, as their public documentation describes them, so that a provider profile's whole
 * lifecycle runs on `TestClock`.
 *
 * @example
 * ```ts
 * import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
 * import * as Dialect from "@tokenfx/testing/Dialect"
 *
 * // A server that answers like GitHub: errors with HTTP 200, comma-separated scopes, a REST revocation.
 * export const layer = AuthorizationServer.layer({ issuer: "https://github.test", dialect: Dialect.github })
 * ```
 *
 * @since 0.3.0
 */
export * as Dialect from "./Dialect.js"
