import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Backoff from "@tokenfx/http/Backoff"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

const withRefreshToken = (refreshToken: string) =>
  new Token.Token({
    accessToken: Redacted.make("old-access"),
    tokenType: "Bearer",
    refreshToken: Redacted.make(refreshToken),
    issuedAt: DateTime.unsafeMake(0),
    scopes: []
  })

const instants = (server: FakeHttp.FakeServer) => server.requests.map((request) => request.at)

describe("Backoff", () => {
  describe("isRetryable", () => {
    it("retries rate limiting, unavailability, 5xx and transport failures", () => {
      const retried = [
        new OAuthError.RateLimited({ status: 400 }),
        new OAuthError.RateLimited({ status: 429 }),
        new OAuthError.TemporarilyUnavailable({ status: 503 }),
        new OAuthError.ServerError({ status: 500 }),
        new OAuthError.UnknownOAuthError({ code: "overloaded", status: 502 }),
        new OAuthError.InvalidRequest({ status: 429 }),
        new OAuthError.MalformedResponse({ reason: "html", status: 504 }),
        new OAuthError.TransportError({ reason: "Connection" }),
        new OAuthError.TransportError({ reason: "Timeout" })
      ]
      for (const error of retried) assert.isTrue(Backoff.isRetryable(error), error.message)
    })

    it("never retries what retrying cannot fix, whatever the status", () => {
      const kept = [
        new OAuthError.InvalidGrant({ status: 400 }),
        new OAuthError.InvalidClient({ status: 503 }),
        new OAuthError.UnauthorizedClient({ status: 429 }),
        new OAuthError.UnsupportedGrantType({ status: 500 }),
        new OAuthError.InvalidScope({ status: 503 }),
        new OAuthError.InvalidRequest({ status: 400 }),
        new OAuthError.AuthorizationPending({ status: 429 }),
        new OAuthError.SlowDown({ status: 503 }),
        new OAuthError.MalformedResponse({ reason: "bad", status: 200 }),
        new OAuthError.TransportError({ reason: "Redirect" }),
        new OAuthError.TransportError({ reason: "Insecure" })
      ]
      for (const error of kept) assert.isFalse(Backoff.isRetryable(error), error.message)
    })
  })

  describe("policy", () => {
    it("clamps what makes no sense", () => {
      const policy = Backoff.policy({ maxAttempts: 0, factor: 0.5, jitter: 3 })
      assert.strictEqual(policy.maxAttempts, 1)
      assert.strictEqual(policy.factor, 1)
      assert.strictEqual(policy.jitter, 1)
      assert.deepStrictEqual(Backoff.policy(), Backoff.defaultPolicy)
    })
  })

  describe("on the token endpoint", () => {
    it.effect("waits exponentially between attempts: 0.5 s, 1 s, 2 s", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 503 }, { status: 500 }, FakeHttp.refused, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("1499 millis")
        assert.deepStrictEqual(instants(server), [0, 500])
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(instants(server), [0, 500, 1500, 3500])
      }))

    it.effect("never sooner than Retry-After in seconds", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          FakeHttp.oauthError("rate_limited", 429, { "retry-after": "7" }),
          FakeHttp.token()
        ])
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("6999 millis")
        assert.deepStrictEqual(instants(server), [0])
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(instants(server), [0, 7000])
      }))

    it.effect("never sooner than Retry-After as an HTTP date", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(Date.UTC(2026, 0, 1, 12, 0, 0))
        const server = FakeHttp.make([
          { status: 503, headers: { "retry-after": "Thu, 01 Jan 2026 12:00:12 GMT" } },
          FakeHttp.token()
        ])
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("11999 millis")
        assert.strictEqual(server.requests.length, 1)
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(instants(server).map((at) => at - instants(server)[0]), [0, 12_000])
      }))

    it.effect("a Retry-After shorter than the backoff does not shorten it", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 429, headers: { "retry-after": "0" } }, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, { backoff: { jitter: 0, base: "2 seconds" } })
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(instants(server), [0, 2000])
      }))

    it.effect("stops at the maximum number of attempts with the last error", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          { status: 500 },
          { status: 500 },
          FakeHttp.oauthError("temporarily_unavailable", 503)
        ])
        const endpoint = yield* Endpoint.make(server, { backoff: { jitter: 0, maxAttempts: 3 } })
        const fiber = yield* Effect.fork(Effect.flip(endpoint.clientCredentials()))
        yield* TestClock.adjust("1 minute")
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "TemporarilyUnavailable")
        assert.deepStrictEqual(instants(server), [0, 500, 1500])
      }))

    it.effect("stops when the next attempt would start after the total time bound", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 429, headers: { "retry-after": "3" } }])
        const endpoint = yield* Endpoint.make(server, {
          backoff: { jitter: 0, maxAttempts: 10, maxElapsed: "5 seconds" }
        })
        const fiber = yield* Effect.fork(Effect.flip(endpoint.clientCredentials()))
        yield* TestClock.adjust("3 seconds")
        const error = yield* Fiber.join(fiber)
        assert.deepStrictEqual(instants(server), [0, 3000])
        assert.strictEqual(error._tag, "RateLimited")
        assert.deepStrictEqual(error._tag === "RateLimited" && error.retryAfter, Duration.seconds(3))
      }))

    it.effect("a Retry-After beyond the budget returns the error at once", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 503, headers: { "retry-after": "120" } }])
        const endpoint = yield* Endpoint.make(server)
        const error = yield* Effect.flip(endpoint.clientCredentials())
        assert.strictEqual(error._tag, "TemporarilyUnavailable")
        assert.deepStrictEqual(error._tag === "TemporarilyUnavailable" && error.retryAfter, Duration.minutes(2))
        assert.strictEqual(server.requests.length, 1)
      }))

    it.effect("invalid_grant, invalid_client, unauthorized_client, unsupported_grant_type, invalid_scope: one attempt", () =>
      Effect.gen(function*() {
        for (const code of Backoff.neverRetried) {
          const server = FakeHttp.make([FakeHttp.oauthError(code, 503, { "retry-after": "1" }), FakeHttp.token()])
          const endpoint = yield* Endpoint.make(server)
          const error = yield* Effect.flip(endpoint.clientCredentials())
          assert.strictEqual(error.code, code)
          assert.strictEqual(server.requests.length, 1, code)
        }
      }))

    it.effect("other callers of the endpoint wait for the same cooldown", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 429, headers: { "retry-after": "30" } }, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const first = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("1 second")
        // Started after the 429, by another operation on the same endpoint: it must not send before 30 s.
        const second = yield* Effect.fork(endpoint.refresh(withRefreshToken("rt-1")))
        const third = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("28 seconds")
        assert.deepStrictEqual(instants(server), [0])
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        yield* Fiber.join(second)
        yield* Fiber.join(third)
        assert.deepStrictEqual(instants(server), [0, 30_000, 30_000, 30_000])
      }))

    it.effect("a caller whose budget ends before the cooldown fails at once with RateLimited", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 429, headers: { "retry-after": "30" } }, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, {
          backoff: { jitter: 0, maxElapsed: "20 seconds" },
          // By default the cooldown is capped at the budget, which any fresh caller can wait out.
          maxCooldown: "1 minute"
        })
        const first = yield* Effect.flip(endpoint.clientCredentials())
        assert.strictEqual(first._tag, "RateLimited")
        yield* TestClock.adjust("1 second")
        const second = yield* Effect.flip(endpoint.clientCredentials())
        assert.strictEqual(second._tag, "RateLimited")
        assert.deepStrictEqual(second._tag === "RateLimited" && second.retryAfter, Duration.seconds(29))
        assert.deepStrictEqual(instants(server), [0])
      }))

    it.effect("jitter scales each wait within ±jitter", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 503 }, { status: 503 }, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, { backoff: { jitter: 0.2 } })
        const fiber = yield* Effect.fork(endpoint.clientCredentials().pipe(Effect.withRandom(Random.fixed([1, 0]))))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(fiber)
        // 500 ms × 1.2, then 1000 ms × 0.8
        assert.deepStrictEqual(instants(server), [0, 600, 1400])
      }))
  })

  describe("retry", () => {
    it.effect("retries any effect on the policy and reports each retry", () =>
      Effect.gen(function*() {
        let calls = 0
        const retries: Array<number> = []
        const effect = Effect.suspend(() =>
          ++calls < 3 ? Effect.fail(new OAuthError.ServerError({ status: 500 })) : Effect.succeed(calls)
        )
        const fiber = yield* Effect.fork(Backoff.retry(effect, {
          policy: Backoff.policy({ jitter: 0, base: "1 second", factor: 3 }),
          onRetry: (_, delay) => Effect.sync(() => retries.push(Duration.toMillis(delay)))
        }))
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(yield* Fiber.join(fiber), 3)
        assert.deepStrictEqual(retries, [1000, 3000])
      }))

    it.effect("caps the exponential wait at maxDelay", () =>
      Effect.gen(function*() {
        const retries: Array<number> = []
        const fiber = yield* Effect.fork(
          Effect.flip(Backoff.retry(Effect.fail(new OAuthError.ServerError({ status: 500 })), {
            policy: Backoff.policy({ jitter: 0, base: "1 second", maxDelay: "3 seconds", maxAttempts: 5 }),
            onRetry: (_, delay) => Effect.sync(() => retries.push(Duration.toMillis(delay)))
          }))
        )
        yield* TestClock.adjust("1 minute")
        assert.strictEqual((yield* Fiber.join(fiber))._tag, "ServerError")
        assert.deepStrictEqual(retries, [1000, 2000, 3000, 3000])
      }))
  })
})
