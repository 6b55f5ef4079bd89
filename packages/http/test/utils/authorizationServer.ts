/**
 * The in-memory `AuthorizationServer` of `@tokenfx/testing` behind a real `TokenEndpoint`, and a
 * `TokenManager` over both: the manager's tests talk HTTP to a server that rotates refresh tokens and
 * detects their reuse, on `TestClock`.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { constFalse } from "effect/Function"
import * as Redacted from "effect/Redacted"

export type Server = AuthorizationServer.AuthorizationServer["Type"]

/** A server whose access tokens live 60 seconds (refreshed at 54 s by the default policy). */
export const makeServer = (options: AuthorizationServer.Options = {}): Effect.Effect<Server> =>
  AuthorizationServer.make({ accessTokenTtl: "60 seconds", ...options })

/**
 * The default confidential client's endpoint. One attempt per request: the manager's own backoff is
 * what these tests look at.
 */
export const endpointFor = (
  server: Server,
  options: Partial<TokenEndpoint.Options> = {}
): Effect.Effect<TokenEndpoint.TokenEndpoint["Type"]> =>
  TokenEndpoint.make({
    issuer: server.issuer,
    tokenEndpoint: server.tokenEndpoint,
    revocationEndpoint: server.revocationEndpoint,
    introspectionEndpoint: server.introspectionEndpoint,
    clientId: "client",
    clientSecret: Redacted.make("secret"),
    backoff: { maxAttempts: 1, jitter: 0 },
    ...options
  }).pipe(Effect.provideService(HttpClient.HttpClient, server.httpClient))

/** One application instance over `server`: its own endpoint and manager, over `store` or a new one. */
export const managerFor = (
  server: Server,
  options: TokenManager.Options = {},
  store?: TokenStore.TokenStore["Type"]
) =>
  Effect.gen(function*() {
    const tokens = store ?? (yield* TokenStore.makeMemory)
    const endpoint = yield* endpointFor(server)
    const manager = yield* TokenManager.make(options).pipe(
      Effect.provideService(TokenStore.TokenStore, tokens),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    )
    const events = yield* manager.subscribe
    return { manager, server, endpoint, store: tokens, events }
  })

/** A login: a new grant for `subject` and its first token. */
export const login = (server: Server, subject = "alice"): Effect.Effect<Token.Token> => server.issueToken({ subject })

/** Token requests the server received for a grant type, failed and forced ones included. */
export const requests = (server: Server, grantType = "refresh_token"): Effect.Effect<number> =>
  Effect.map(server.stats, (stats) => stats.tokenRequests[grantType] ?? 0)

/** Refresh tokens presented again after their rotation (each one revoked its grant). */
export const reusedRefreshTokens = (server: Server): Effect.Effect<number> =>
  Effect.map(server.stats, (stats) => stats.errors["invalid_grant"] ?? 0)

/** Forces the next `count` token endpoint answers to an OAuth error. */
export const failNext = (
  server: Server,
  error: "server_error" | "temporarily_unavailable" | "rate_limited",
  options: { readonly count?: number; readonly status?: number; readonly retryAfter?: number } = {}
): Effect.Effect<void> =>
  server.failNext(options.count ?? 1, {
    status: options.status ?? (error === "server_error" ? 500 : error === "rate_limited" ? 429 : 503),
    body: { error },
    headers: options.retryAfter === undefined ? undefined : { "retry-after": String(options.retryAfter) }
  })

/**
 * The resource server's answer to an access token: its status and, when accepted, the subject. A
 * fake API may ask it from inside a request an `AuthorizedClient` sends: the client's per-request
 * origin check (a fiber-local hook) is reset for this request of the fake's own.
 */
export const resource = (
  server: Server,
  accessToken: string | Redacted.Redacted<string>
): Effect.Effect<{ readonly status: number; readonly subject: string | undefined }> =>
  Effect.gen(function*() {
    const response = yield* server.httpClient.execute(
      HttpClientRequest.get(server.resourceUrl).pipe(HttpClientRequest.bearerToken(accessToken))
    )
    if (response.status !== 200) return { status: response.status, subject: undefined }
    const body = (yield* response.json) as { readonly sub?: unknown }
    return { status: 200, subject: String(body.sub) }
  }).pipe(
    Effect.orDie,
    Effect.locally(HttpClient.currentTracerDisabledWhen, constFalse)
  )

/** A token the server never issued, issued at `issuedAt` (ms), 60 seconds long by default. */
export const tokenAt = (
  issuedAt: number,
  accessToken: string,
  refreshToken?: string,
  expiresIn: Duration.DurationInput = "60 seconds"
): Token.Token =>
  Token.make({
    access_token: Redacted.make(accessToken),
    token_type: "Bearer",
    expires_in: Duration.toSeconds(expiresIn),
    ...(refreshToken === undefined ? {} : { refresh_token: Redacted.make(refreshToken) })
  }, issuedAt)

/** The access token's value. */
export const access = (token: Token.Token): string => Redacted.value(token.accessToken)
