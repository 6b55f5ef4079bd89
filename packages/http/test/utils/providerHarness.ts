import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientModule from "@effect/platform/HttpClient"
import type * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Provider from "@tokenfx/http/Provider"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import type * as Dialect from "@tokenfx/testing/Dialect"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

/**
 * A provider's dialect server, its profile's endpoint and a token manager over both, on `TestClock`.
 */
export const harness = (options: {
  readonly dialect: Dialect.Dialect
  readonly issuer: string
  readonly profile: (issuer: string) => Provider.Profile
  readonly server?: Omit<AuthorizationServer.Options, "dialect" | "issuer"> | undefined
  readonly manager?: TokenManager.Options | undefined
}) =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer.make({
      ...options.server,
      dialect: options.dialect,
      issuer: options.issuer
    })
    // Every request the client sends, with the path it went to.
    const sent: Array<{ readonly method: string; readonly path: string; readonly accept: string | undefined }> = []
    // The form parameters of every request, in order.
    const forms: Array<URLSearchParams> = []
    const http: HttpClient.HttpClient = HttpClientModule.make((request, url) => {
      sent.push({ method: request.method, path: url.pathname, accept: request.headers["accept"] })
      forms.push(
        new URLSearchParams(request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : "")
      )
      return server.httpClient.execute(request)
    })
    const profile = options.profile(server.issuer)
    const endpoint = yield* Provider.make(profile).pipe(Effect.provideService(HttpClientModule.HttpClient, http))
    const store = yield* TokenStore.makeMemory
    const manager = yield* TokenManager.makeWithSource(options.manager).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenSource.TokenSource, Provider.source(profile, endpoint))
    )
    const events = yield* manager.subscribe
    const tags = Effect.map(Queue.takeAll(events), (all) => Chunk.toReadonlyArray(all).map((event) => event._tag))
    // The user's part of the authorization code flow with PKCE.
    const login = (redirectUri = "https://app.test/callback") =>
      Effect.gen(function*() {
        const request = yield* endpoint.authorizationUrl({ redirectUri })
        const callback = yield* server.authorize(request.url)
        const url = new URL(redirectUri)
        url.searchParams.set("code", callback.code)
        if (callback.state !== undefined) url.searchParams.set("state", callback.state)
        // The profile names the real provider's issuer; the dialect server has its own.
        if (profile.endpoint.issuer === callback.iss) url.searchParams.set("iss", callback.iss)
        return { request, token: yield* endpoint.exchangeCode(request, url) }
      })
    return { server, endpoint, manager, store, events, tags, login, sent, forms, profile }
  })

export const secret = Redacted.make("secret")

export const access = (token: Token.Token) => Redacted.value(token.accessToken)

export const refresh = (token: Token.Token) =>
  token.refreshToken === undefined ? undefined : Redacted.value(token.refreshToken)

/** Test options for a profile: the dialect server's address is `https://…`, so nothing insecure is allowed. */
export const client = { clientId: "client", clientSecret: secret } as const

/**
 * A 429 (`Retry-After: 20`, or the dialect's own headers) on a refresh: no retry before the 20 seconds,
 * the refresh done after them.
 */
export const rateLimitedRefresh = (
  h: Effect.Effect.Success<ReturnType<typeof harness>>
) =>
  Effect.gen(function*() {
    const { token } = yield* h.login()
    yield* TestClock.adjust("1000 seconds")
    yield* h.server.failNext(1, { status: 429, headers: { "retry-after": "20" } })
    const fiber = yield* Effect.fork(h.endpoint.refresh(token))
    yield* TestClock.adjust("19 seconds")
    const early = (yield* h.server.stats).tokenRequests.refresh_token
    yield* TestClock.adjust("2 seconds")
    const next = yield* Fiber.join(fiber)
    return { early, late: (yield* h.server.stats).tokenRequests.refresh_token, renewed: access(next) !== access(token) }
  })
