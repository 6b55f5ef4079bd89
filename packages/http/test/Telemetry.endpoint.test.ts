/**
 * The metrics `TokenEndpoint` and `AuthorizedClient` record: rate-limit waits, client authentication
 * failures, the `client` label on the request counters, and resource 401s and 403s. Each test records
 * under a `client` label of its own.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as TestClock from "effect/TestClock"
import { login, makeServer, managerFor } from "./utils/authorizationServer.js"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

const count = (metric: Metric.Metric.Counter<number>, client: string, extra: Record<string, string> = {}) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(metric, [
      Telemetry.clientLabel(client),
      ...Object.entries(extra).map(([key, value]) => MetricLabel.make(key, value))
    ])),
    (state) => state.count
  )

const waits = (client: string, operation: string) => count(Telemetry.rateLimitWaits, client, { operation })

// A clock that moves 1 ms each time it is read, as a real one does under load (its timers never fire).
const tickingClock = (): Clock.Clock => {
  let now = 0
  const clock: Clock.Clock = {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => ++now,
    unsafeCurrentTimeNanos: () => BigInt(++now) * 1_000_000n,
    currentTimeMillis: Effect.sync(() => ++now),
    currentTimeNanos: Effect.sync(() => BigInt(++now) * 1_000_000n),
    sleep: () => Effect.never
  }
  return clock
}

describe("Telemetry: TokenEndpoint", () => {
  it.effect("tokenfx_rate_limit_waits counts no wait when no cooldown held the request back, however the clock moves", () =>
    Effect.gen(function*() {
      const client = "no-cooldown"
      const endpoint = yield* Endpoint.make(FakeHttp.make([FakeHttp.token(), FakeHttp.token()]), {
        clientLabel: client
      })
      yield* endpoint.clientCredentials().pipe(Effect.withClock(tickingClock()))
      yield* endpoint.clientCredentials().pipe(Effect.withClock(tickingClock()))
      assert.strictEqual(yield* waits(client, "clientCredentials"), 0)
    }))

  it.effect("the request counters carry the client label (default \"default\")", () =>
    Effect.gen(function*() {
      const success = { operation: "clientCredentials", grant_type: "client_credentials", outcome: "success" }
      const before = yield* count(Telemetry.requestsTotal, "default", success)
      yield* (yield* Endpoint.make(FakeHttp.make([FakeHttp.token()]))).clientCredentials()
      assert.strictEqual((yield* count(Telemetry.requestsTotal, "default", success)) - before, 1)
      yield* (yield* Endpoint.make(FakeHttp.make([FakeHttp.token()]), { clientLabel: "billing" })).clientCredentials()
      assert.strictEqual(yield* count(Telemetry.requestsTotal, "billing", success), 1)
      assert.strictEqual((yield* count(Telemetry.requestsTotal, "default", success)) - before, 1)
    }))

  it.effect("tokenfx_client_authentication_failures counts invalid_client by operation", () =>
    Effect.gen(function*() {
      const client = "auth-failures"
      const server = FakeHttp.make([FakeHttp.oauthError("invalid_client", 401), FakeHttp.oauthError("invalid_grant")])
      const endpoint = yield* Endpoint.make(server, { clientLabel: client })
      const error = yield* Effect.flip(endpoint.clientCredentials())
      assert.strictEqual(error._tag, "InvalidClient")
      assert.strictEqual(
        yield* count(Telemetry.clientAuthenticationFailures, client, { operation: "clientCredentials" }),
        1
      )
      // Another error is not a client authentication failure.
      yield* Effect.flip(endpoint.clientCredentials())
      assert.strictEqual(
        yield* count(Telemetry.clientAuthenticationFailures, client, { operation: "clientCredentials" }),
        1
      )
    }))

  it.effect("tokenfx_rate_limit_waits: a retry after Retry-After, and a caller held back by the cooldown", () =>
    Effect.gen(function*() {
      const client = "endpoint-rate-limit"
      const server = FakeHttp.make([
        FakeHttp.json({ error: "rate_limited" }, 429, { "retry-after": "5" }),
        FakeHttp.token()
      ])
      const endpoint = yield* Endpoint.make(server, { clientLabel: client })
      const first = yield* Effect.fork(endpoint.clientCredentials())
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* waits(client, "clientCredentials"), 1)
      // Told nothing itself, this caller waits out the endpoint's cooldown.
      const second = yield* Effect.fork(endpoint.clientCredentials())
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.strictEqual(yield* waits(client, "clientCredentials"), 2)
      // A failure with no Retry-After retries without counting a wait.
      const plain = FakeHttp.make([{ status: 503 }, FakeHttp.token()])
      const other = yield* Endpoint.make(plain, { clientLabel: `${client}-503` })
      const retried = yield* Effect.fork(other.clientCredentials())
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(retried)
      assert.strictEqual(plain.requests.length, 2)
      assert.strictEqual(yield* waits(`${client}-503`, "clientCredentials"), 0)
    }))

  it.effect("tokenfx_rate_limit_waits{operation=pollDeviceToken}: each slow_down", () =>
    Effect.gen(function*() {
      const client = "device-slow-down"
      const server = FakeHttp.make((request, index) =>
        index === 0
          ? FakeHttp.json({
            device_code: "dc",
            user_code: "WDJB-MJHT",
            verification_uri: "https://auth.example.com/device",
            expires_in: 600,
            interval: 1
          })
          : [
            FakeHttp.oauthError("slow_down"),
            FakeHttp.oauthError("authorization_pending"),
            FakeHttp.oauthError("slow_down"),
            FakeHttp.token()
          ][index - 1]!
      )
      const endpoint = yield* Endpoint.make(server, { clientLabel: client })
      const fiber = yield* Effect.fork(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization()))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.strictEqual(yield* waits(client, "pollDeviceToken"), 2)
    }))
})

describe("Telemetry: AuthorizedClient", () => {
  it.scoped("tokenfx_resource_responses counts every 401 and 403, the retried request's included", () =>
    Effect.gen(function*() {
      const client = "resource"
      const server = yield* makeServer()
      const { manager } = yield* managerFor(server, { clientLabel: client })
      yield* manager.set("alice", yield* login(server))
      const resource = HttpClient.make((request, url) =>
        Effect.succeed(HttpClientResponse.fromWeb(
          request,
          new Response("{}", { status: url.pathname === "/ok" ? 200 : Number(url.pathname.slice(1)) })
        ))
      )
      const http = AuthorizedClient.authorize(resource, manager, {
        key: "alice",
        origin: "https://api.example.com",
        clientLabel: client
      })
      const get = (path: string) => Effect.exit(http.execute(HttpClientRequest.get(`https://api.example.com${path}`)))
      const seen = Effect.all([
        count(Telemetry.resourceResponses, client, { status: "401" }),
        count(Telemetry.resourceResponses, client, { status: "403" })
      ])
      yield* get("/ok")
      yield* get("/404")
      assert.deepStrictEqual(yield* seen, [0, 0])
      yield* get("/403")
      assert.deepStrictEqual(yield* seen, [0, 1])
      // Rejected, refreshed, retried, rejected again: two 401s.
      yield* get("/401")
      assert.deepStrictEqual(yield* seen, [2, 1])
    }))

  it.scoped("TokenManagerPromise's authorizedFetch counts them the same way", () =>
    Effect.gen(function*() {
      const client = "resource-promise"
      const server = yield* makeServer()
      const { manager } = yield* managerFor(server)
      yield* manager.set("alice", yield* login(server))
      const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
        Effect.provideService(TokenManager.TokenManager, manager)
      )
      const fetch = TokenManagerPromise.fromRuntime(runtime).authorizedFetch({
        key: "alice",
        origin: "https://api.example.com",
        clientLabel: client,
        fetch: async (input) => {
          const url = new URL(input instanceof Request ? input.url : input)
          return new Response(null, { status: url.pathname === "/ok" ? 200 : Number(url.pathname.slice(1)) })
        }
      })
      const get = (path: string) => Effect.promise(() => fetch(`https://api.example.com${path}`).catch(() => undefined))
      const seen = Effect.all([
        count(Telemetry.resourceResponses, client, { status: "401" }),
        count(Telemetry.resourceResponses, client, { status: "403" })
      ])
      yield* get("/ok")
      yield* get("/403")
      yield* get("/401")
      assert.deepStrictEqual(yield* seen, [2, 1])
    }))
})
