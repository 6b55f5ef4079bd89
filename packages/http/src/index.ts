/**
 * The OAuth 2.0 token endpoint client, `TokenManager` and `AuthorizedClient` for Effect.
 *
 * @since 0.1.0
 */

/**
 * The front-channel half of the authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636):
 * the authorization request (URL, `state`, S256 challenge) and the checks on the redirect that comes
 * back (`state`, and `iss` per RFC 9207) before its code may be exchanged.
 *
 * @since 0.1.0
 */
export * as AuthorizationCode from "./AuthorizationCode.js"

/**
 * An `HttpClient` that sends a `TokenManager`'s token: `Authorization: Bearer` (or `DPoP`) on every
 * request to the token's origin, one refresh and one retry after a 401, and typed errors for a
 * rejected token (`InvalidToken`), a missing scope (`InsufficientScope`) or a claims challenge
 * (`InsufficientClaims`, which no refresh can satisfy: it is never retried).
 *
 * The token never leaves its origin: requests elsewhere, and plain HTTP except to loopback, fail
 * with a `TransportError` before anything is sent. Redirects are not followed (the fetch client is
 * told so); compose `HttpClient.followRedirects` on top to follow them, each hop checked.
 *
 * @since 0.1.0
 */
export * as AuthorizedClient from "./AuthorizedClient.js"

/**
 * Retrying an authorization server politely: exponential backoff with jitter, never sooner than the
 * server's `Retry-After`, bounded by a number of attempts and a total time. (A `TokenEndpoint` also
 * shares one cooldown among every caller of an endpoint, so that one `Retry-After` quiets them all.)
 *
 * Errors that retrying cannot fix (`invalid_grant`, `invalid_client`, `unauthorized_client`,
 * `unsupported_grant_type`, `invalid_scope`) are never retried.
 *
 * @since 0.1.0
 */
export * as Backoff from "./Backoff.js"

/**
 * Client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): for `private_key_jwt` and
 * `client_secret_jwt`, a short-lived JWT signed per request, with `iss` and `sub` the client id, `aud`
 * the token endpoint (or what the server expects), a unique `jti` from WebCrypto, and `iat` / `exp`
 * from `Clock`. The key is imported once, non-extractable; neither the key nor an assertion appears in
 * an error, log or span.
 *
 * @since 0.1.0
 */
export * as ClientAssertion from "./ClientAssertion.js"

/**
 * How a client proves who it is to the token endpoint (RFC 6749 section 2.3): `client_secret_basic`,
 * `client_secret_post`, or `none` for a public client that sends only its `client_id`; or a signed
 * assertion per request (RFC 7523 section 2.2, OpenID Connect Core section 9): `private_key_jwt`
 * with the client's private key, `client_secret_jwt` with its secret (see `ClientAssertion`).
 *
 * The secret stays `Redacted` until the request is built.
 *
 * @since 0.1.0
 */
export * as ClientAuthentication from "./ClientAuthentication.js"

/**
 * A compliance hook for providers that do not quite follow the RFCs: it rewrites the raw answer of an
 * endpoint (status, headers, body) before tokenfx reads it, and maps the error it reads to another
 * one, per endpoint. The provider profiles (`Provider`) are built from it; any other provider gets the
 * same means.
 *
 * @example
 * ```ts
 * import * as Compliance from "@tokenfx/http/Compliance"
 * import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
 * import * as OAuthError from "@tokenfx/core/OAuthError"
 *
 * // A provider that answers `{"status":"expired"}` with HTTP 401 when a refresh token is dead, names
 * // its scopes with commas, and says when a rate limit ends in an `x-ratelimit-reset` epoch.
 * const acme = Compliance.compose(
 *   Compliance.mapJson((body, answer) =>
 *     answer.endpoint === "token" && body["status"] === "expired"
 *       ? { error: "invalid_grant", error_description: "the refresh token expired" }
 *       : body
 *   ),
 *   Compliance.scopeSeparator(","),
 *   Compliance.rateLimitReset("x-ratelimit-reset"),
 *   Compliance.mapError((error) =>
 *     error._tag === "UnknownOAuthError" && error.code === "acme_locked"
 *       ? new OAuthError.AccessDenied({ description: error.description, status: error.status })
 *       : error
 *   )
 * )
 *
 * export const layer = TokenEndpoint.layer({
 *   tokenEndpoint: "https://id.acme.example/token",
 *   clientId: "my-app",
 *   compliance: acme
 * })
 * ```
 *
 * @since 0.3.0
 */
export * as Compliance from "./Compliance.js"

/**
 * The device authorization grant (RFC 8628) for input-constrained devices and command-line tools: the
 * device authorization response (the code the user types, where to type it, how long it lasts, how
 * often to poll) and the polling rules, as a `Schedule`.
 *
 * @since 0.1.0
 */
export * as DeviceAuthorization from "./DeviceAuthorization.js"

/**
 * Finding an authorization server's endpoints from its issuer: OAuth 2.0 Authorization Server
 * Metadata (RFC 8414, `/.well-known/oauth-authorization-server`) and OpenID Connect Discovery
 * (`/.well-known/openid-configuration`). The document's `issuer` must be the one asked for, or the
 * document is refused: a server that answers for another issuer could hand out any endpoint.
 *
 * @since 0.1.0
 */
export * as Discovery from "./Discovery.js"

/**
 * DPoP (RFC 9449): a key pair the client holds, and a signed proof on each request that shows the
 * sender holds it, so that a stolen DPoP-bound token is useless without the key. Proofs carry the
 * request's method and URL (without query or fragment), a fresh `jti`, `iat` from `Clock`, the hash
 * of the access token on resource requests (`ath`), and the server's nonce once it asked for one.
 *
 * `withProofs` adds the proofs to any `HttpClient`; the token endpoint and `AuthorizedClient` take a
 * `Dpop` and do it for their requests. Generated and imported private keys are non-extractable
 * `CryptoKey`s: they are never printed, logged or serialized.
 *
 * @since 0.1.0
 */
export * as Dpop from "./Dpop.js"

/**
 * OpenID Connect ID token validation (OpenID Connect Core sections 3.1.3.7 and 3.1.3.8): the
 * signature against the issuer's key set, the algorithm (asymmetric only: never `none`, never HMAC
 * with a published key), `iss`, `aud`, `azp`, `exp` and `iat` on `Clock`, the `nonce` sent with the
 * authorization request, and `at_hash` / `c_hash` where present. Each failed check is its own
 * `reason` of `InvalidIdToken`.
 *
 * @since 0.1.0
 */
export * as IdToken from "./IdToken.js"

/**
 * What token introspection (RFC 7662) says about a token: whether it is `active`, and for an active
 * token the claims the server chose to share.
 *
 * @since 0.1.0
 */
export * as Introspection from "./Introspection.js"

/**
 * An issuer's JSON Web Key Set (RFC 7517), fetched from its `jwks_uri` through the `HttpClient` and
 * cached: refetched when it is older than `maxAge`, or when a token names a key it does not hold (a
 * key rotation at the issuer), but never more often than once per `cooldown`, so that tokens with
 * made-up key ids cannot turn the client into a flood of requests. When a refetch fails, the last set
 * is kept and tried again after `cooldown`.
 *
 * Only public keys are kept; the set is handed to `jose` for verification.
 *
 * @since 0.1.0
 */
export * as Jwks from "./Jwks.js"

/**
 * JWT access tokens (RFC 9068) verified by a resource server built with Effect: the `at+jwt` type, the
 * signature against the issuer's key set (asymmetric algorithms only), `iss`, `aud` (the resource
 * server's identifier), `exp` / `iat` on `Clock`, the claims RFC 9068 requires, and the scopes the
 * request needs. A failure is `InvalidToken` (answer 401) or `InsufficientScope` (answer 403), as RFC
 * 6750 section 3.1 names them; the token is never quoted.
 *
 * @since 0.1.0
 */
export * as JwtAccessToken from "./JwtAccessToken.js"

/**
 * Provider profiles: what GitHub, Google, Microsoft Entra ID, Auth0, Okta and Keycloak need besides
 * the RFCs — their endpoints, the client authentication they expect, default parameters (scopes,
 * `access_type=offline`, `audience`), how to read their answers (a `Compliance` hook), and how they
 * revoke. Each behaviour is taken from the provider's public documentation and tested against the
 * matching dialect of `@tokenfx/testing/AuthorizationServer`.
 *
 * @example
 * ```ts
 * import * as Provider from "@tokenfx/http/Provider"
 * import * as TokenManager from "@tokenfx/http/TokenManager"
 * import * as Config from "effect/Config"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const github = Provider.github({ clientId: "Iv1.0123", clientSecret: Redacted.make("…") })
 *
 * // A token manager that refreshes GitHub user tokens and disconnects through GitHub's REST API.
 * export const layer = TokenManager.layerWithSource().pipe(
 *   Layer.provide(Provider.layerSource(github)),
 *   Layer.provideMerge(Provider.layer(github))
 * )
 * ```
 *
 * @since 0.3.0
 */
export * as Provider from "./Provider.js"

/**
 * Publishes a `TokenStore`'s counts (`TokenStore.stats`) as the `tokenfx_store_tokens{state}` gauge,
 * polled on a `Schedule`: how many tokens the whole store holds, fresh, due for a refresh or expired,
 * across every process that shares it (the `TokenManager`'s own gauge, `tokenfx_tokens_active`, counts
 * only the keys one process holds in memory).
 *
 * Only the totals become metrics: per-user counts (`stats({ byUser: true })`) would make one series per
 * user, so they stay with the API and `tokenfx status`.
 *
 * @since 0.3.0
 */
export * as StoreMetrics from "./StoreMetrics.js"

/**
 * Every metric tokenfx records, in one place, so an operator can find them by name. Names start with
 * `tokenfx_`; labels hold only bounded, secret-free values (operation, grant type, outcome, error tag,
 * a state or reason from a fixed vocabulary).
 *
 * Every metric also carries the label `client`: the `clientLabel` option of the `TokenEndpoint`,
 * `TokenManager`, `AuthorizedClient` or `authorizedFetch` that recorded it (default `"default"`), so that one process
 * serving several applications (OAuth clients) can tell them apart. Choose a fixed name per
 * application; never a user id, a key or anything secret.
 *
 * @since 0.3.0
 */
export * as Telemetry from "./Telemetry.js"

/**
 * The conversation with an authorization server: every grant, revocation, introspection, the device
 * flow and discovery, with client authentication, timeouts and backoff that honours `Retry-After`.
 * Every answer is a core `Token` or a typed error (see `TokenEndpointError`); what a request asks for
 * is described in `TokenRequest`.
 *
 * @since 0.1.0
 */
export * as TokenEndpoint from "./TokenEndpoint.js"

/**
 * What the operations of a `TokenEndpoint` fail with: one union per operation, so that each
 * signature is honest (a revocation cannot fail with `AuthorizationPending`), and `MissingEndpoint`
 * for an operation whose endpoint is unknown.
 *
 * @since 0.1.0
 */
export * as TokenEndpointError from "./TokenEndpointError.js"

/**
 * How a `TokenEndpoint` is built: where the server is and who the client is, given outright
 * (`Options`) or found through discovery (`DiscoveryOptions`). `TokenEndpoint.Options` and
 * `TokenEndpoint.DiscoveryOptions` are the same types.
 *
 * @since 0.4.0
 */
export * as TokenEndpointOptions from "./TokenEndpointOptions.js"

/**
 * Valid tokens on demand, for any number of keys. `get` is a memory read and one comparison with
 * `Clock` while the token is fresh; inside the refresh window exactly one refresh runs per key
 * (single flight, and across processes that share a store, one lease holder whose lease outlives its
 * refresh), rotated refresh tokens are written back by compare-and-set and never lost to a failed
 * write, a token that is still valid survives a failed refresh, and nothing is retried without bound.
 * Where new tokens come from is a `TokenSource`.
 *
 * @since 0.1.0
 */
export * as TokenManager from "./TokenManager.js"

/**
 * The errors of a `TokenManager` of its own, beside the token endpoint's and the store's.
 *
 * @since 0.2.0
 */
export * as TokenManagerError from "./TokenManagerError.js"

/**
 * What a `TokenManager` tells the outside world: lifecycle events on a stream. An event never carries
 * a secret: keys, versions, error tags and messages only. The metrics are in `Telemetry`.
 *
 * @since 0.2.0
 */
export * as TokenManagerEvent from "./TokenManagerEvent.js"

/**
 * A `TokenManager` for code outside Effect: an Express handler, a queue worker, an SDK that takes a
 * `fetch`. `getToken` answers a cached, fresh token without starting a fiber (a memory read and one
 * comparison with the manager's clock) and enters the runtime only to refresh, so that single flight,
 * rotation and the lease hold exactly as for `TokenManager.get`. `authorizedFetch` is a `fetch` that
 * sends the token to its origin only, never follows a redirect, and retries once after a 401.
 *
 * Promises reject with the manager's typed errors themselves: every one is an `Error` subclass
 * carrying its `_tag` (`ReconnectRequired`, `InvalidToken`, `TransportError`, ...), so that
 * `error instanceof OAuthError.ReconnectRequired` and `switch (error._tag)` both work.
 *
 * @since 0.2.0
 */
export * as TokenManagerPromise from "./TokenManagerPromise.js"

/**
 * What `TokenManager.revoke` is asked and what it answers. `TokenManager.Revocation` and
 * `TokenManager.RevokeOptions` are the same types; they live here so that the implementation names them
 * without importing `TokenManager`.
 *
 * @since 0.5.0
 */
export * as TokenManagerRevocation from "./TokenManagerRevocation.js"

/**
 * What a client asks the token endpoint for: the scope and resource options every grant shares, the
 * parameters of an extension grant, the authorization code and token exchange requests, and the grant
 * type URIs. Plain data, shared by `TokenEndpoint`, `AuthorizationCode` and the grants built on them.
 *
 * @since 0.1.0
 */
export * as TokenRequest from "./TokenRequest.js"

/**
 * Where a `TokenManager` gets new tokens: one function, a new token for a key given the stored one
 * (golang/oauth2's `TokenSource`), plus revocation where the server offers it. The default is built
 * from a `TokenEndpoint`; fakes, benchmarks and custom grants implement only these two functions.
 *
 * @since 0.2.0
 */
export * as TokenSource from "./TokenSource.js"

/**
 * OpenID Connect UserInfo (Core section 5.3): the claims about the user, read with the access token.
 * The answer's `sub` must be the verified ID token's (Core section 5.3.4), or the claims belong to
 * someone else and are refused. A client registered for signed answers (`userinfo_signed_response_alg`)
 * passes the issuer's key set as `signed`: the answer must then be a JWT signed by the issuer for this
 * client (Core section 5.3.2), checked as an ID token's signature is.
 *
 * @since 0.1.0
 */
export * as UserInfo from "./UserInfo.js"
