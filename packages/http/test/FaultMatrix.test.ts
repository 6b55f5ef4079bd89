/**
 * The fault matrix: oidc-provider behind a fault-injecting proxy, each fault on the token endpoint
 * while a `TokenManager` refreshes a real token. Every fault must end in a typed error after a
 * bounded number of attempts, with the stored token intact: a fresh manager over the same store then
 * refreshes it once the faults are gone (its refresh token was neither lost nor rotated away).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, layer } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as FaultProxy from "@tokenfx/testing/FaultProxy"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const maxAttempts = 3

// A client of the harness whose every endpoint goes through the proxy.
const endpointThrough = (proxy: FaultProxy.FaultProxy) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const client = server.clients.basic
    return yield* TokenEndpoint.make({
      issuer: server.issuer,
      tokenEndpoint: proxy.url(server.tokenEndpoint),
      authorizationEndpoint: server.authorizationEndpoint,
      revocationEndpoint: proxy.url(server.revocationEndpoint),
      introspectionEndpoint: proxy.url(server.introspectionEndpoint),
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      timeout: "1 second",
      maxBodySize: 256 * 1024,
      backoff: { maxAttempts, base: "20 millis", maxDelay: "100 millis", maxElapsed: "5 seconds", jitter: 0 },
      maxCooldown: "200 millis"
    })
  })

// A token from a real login (authorization code with PKCE, straight to the harness).
const login = (endpoint: TokenEndpoint.TokenEndpoint["Type"]) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const request = yield* endpoint.authorizationUrl({
      redirectUri: server.redirectUri,
      scope: ["openid", "offline_access", "api:read"]
    })
    return yield* endpoint.exchangeCode(request, yield* server.authorize(request.url))
  })

const managerOver = (store: TokenStore.TokenStore["Type"], endpoint: TokenEndpoint.TokenEndpoint["Type"]) =>
  TokenManager.make().pipe(
    Effect.provideService(TokenStore.TokenStore, store),
    Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
  )

const tokenPath = (server: OidcProvider.OidcServer) => new URL(server.tokenEndpoint).pathname

const json = (status: number, body: object, headers: Record<string, string> = {}): FaultProxy.Fault => ({
  _tag: "Answer",
  status,
  body: JSON.stringify(body),
  headers
})

const cases: ReadonlyArray<{
  readonly name: string
  readonly fault: FaultProxy.Fault
  readonly errors: ReadonlyArray<string>
  // Whether the client retries this fault (up to `maxAttempts`), or gives up at once.
  readonly retried: boolean
}> = [
  {
    name: "429 with Retry-After",
    fault: json(429, { error: "rate_limited" }, { "retry-after": "1" }),
    errors: ["RateLimited"],
    retried: true
  },
  {
    name: "429 without Retry-After",
    fault: json(429, { error: "rate_limited" }),
    errors: ["RateLimited"],
    retried: true
  },
  {
    name: "429 with a Retry-After of a year",
    fault: json(429, { error: "rate_limited" }, { "retry-after": "31536000" }),
    errors: ["RateLimited"],
    retried: false
  },
  {
    name: "503",
    fault: json(503, { error: "temporarily_unavailable" }),
    errors: ["TemporarilyUnavailable"],
    retried: true
  },
  {
    name: "HTML 500",
    fault: {
      _tag: "Answer",
      status: 500,
      body: "<html><body><h1>500 Internal Server Error</h1></body></html>",
      headers: { "content-type": "text/html" }
    },
    errors: ["ServerError"],
    retried: true
  },
  {
    name: "malformed JSON",
    fault: { _tag: "Answer", status: 200, body: `{"access_token": "tru` },
    errors: ["MalformedResponse"],
    retried: false
  },
  { name: "connection reset", fault: { _tag: "Reset" }, errors: ["TransportError"], retried: true },
  {
    name: "slower than the timeout",
    fault: { _tag: "Delay", millis: 1_500 },
    errors: ["TransportError"],
    retried: true
  },
  {
    name: "oversized body",
    fault: { _tag: "Oversized", bytes: 8 * 1024 * 1024 },
    errors: ["MalformedResponse"],
    retried: false
  }
]

layer(Layer.mergeAll(OidcProvider.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })(
  "fault matrix: oidc-provider behind a fault-injecting proxy",
  (it) => {
    for (const { errors, fault, name, retried } of cases) {
      it.scoped(name, () =>
        Effect.gen(function*() {
          const server = yield* OidcProvider.OidcProvider
          const proxy = yield* FaultProxy.make(server.issuer)
          const endpoint = yield* endpointThrough(proxy)
          const store = yield* TokenStore.makeMemory
          const manager = yield* managerOver(store, endpoint)
          const token = yield* login(endpoint)
          yield* manager.set("alice", token)
          const stored = Option.getOrThrow(yield* store.get("alice"))

          // Every attempt meets the fault; the manager must refresh (the token was rejected).
          const path = tokenPath(server)
          const before = (yield* proxy.stats).requests[path] ?? 0
          yield* proxy.failAll(path, fault)
          yield* manager.invalidate("alice", token)
          const exit = yield* Effect.exit(manager.get("alice"))
          assert.isTrue(Exit.isFailure(exit), "the refresh should fail")
          if (Exit.isFailure(exit)) {
            const failure = Cause.failureOption(exit.cause)
            assert.isTrue(Option.isSome(failure), `a defect: ${Cause.pretty(exit.cause)}`)
            const error = Option.getOrThrow(failure) as { readonly _tag: string }
            assert.include(errors, error._tag, String(error))
          }
          const attempts = ((yield* proxy.stats).requests[path] ?? 0) - before
          if (retried) assert.isTrue(attempts >= 2 && attempts <= maxAttempts, `${attempts} attempts`)
          else assert.strictEqual(attempts, 1)

          // The stored token is the one stored before, untouched.
          const after = Option.getOrThrow(yield* store.get("alice"))
          assert.strictEqual(after.version, stored.version)
          assert.isTrue(Token.Equivalence(after.token, stored.token))

          // With the faults gone, a fresh manager over the same store refreshes it for real.
          yield* proxy.clear
          const fresh = yield* managerOver(store, endpoint)
          yield* fresh.invalidate("alice", token)
          const refreshed = yield* fresh.get("alice")
          assert.isFalse(Token.sameAccessToken(refreshed, token))
        }), { timeout: 30_000 })
    }
  }
)
