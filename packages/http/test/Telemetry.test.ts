/**
 * Every metric of `Telemetry` moves as it should. Metrics are process-wide, so each test records under
 * a `client` label of its own and reads only that.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as Telemetry from "@tokenfx/http/Telemetry"
import type * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerEvent from "@tokenfx/http/TokenManagerEvent"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { failNext, login, makeServer, managerFor, type Server } from "./utils/authorizationServer.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

const labels = (client: string, extra: Record<string, string>) => [
  Telemetry.clientLabel(client),
  ...Object.entries(extra).map(([key, value]) => MetricLabel.make(key, value))
]

/** A counter's count under `client` and `extra` labels. */
const count = (metric: Metric.Metric.Counter<number>, client: string, extra: Record<string, string> = {}) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(client, extra))), (state) => state.count)

/** A gauge's value under `client` and `extra` labels. */
const gauge = (metric: Metric.Metric.Gauge<number>, client: string, extra: Record<string, string> = {}) =>
  Effect.map(Metric.value(Metric.taggedWithLabels(metric, labels(client, extra))), (state) => state.value)

const states = ["fresh", "refresh_window", "expired", "dead"] as const

const active = (client: string) =>
  Effect.map(
    Effect.forEach(states, (state) => gauge(Telemetry.tokensActive, client, { state })),
    (values) => Object.fromEntries(states.map((state, i) => [state, values[i]]))
  )

// Lets the fibers woken by a clock adjustment (the gauge's transition scheduler) run.
const settle = Effect.repeatN(Effect.yieldNow(), 20)
const adjust = (duration: Duration.DurationInput) => Effect.zipRight(TestClock.adjust(duration), settle)

// A manager over `server` (by default a new in-memory authorization server, 60-second access tokens).
const setup = (options: TokenManager.Options, server?: Server) =>
  Effect.gen(function*() {
    const env = yield* managerFor(server ?? (yield* makeServer()), options)
    const drain = Effect.map(Queue.takeAll(env.events), Chunk.toReadonlyArray)
    return { ...env, drain }
  })

describe("Telemetry: TokenManager", () => {
  it.scoped("tokenfx_token_refresh_duration times each refresh, from the grant to the stored token", () =>
    Effect.gen(function*() {
      const client = "refresh-duration"
      const histogram = Metric.taggedWithLabels(Telemetry.refreshDuration, [Telemetry.clientLabel(client)])
      const { manager, server } = yield* setup(
        { clientLabel: client },
        yield* makeServer({ latency: "300 millis" })
      )
      yield* manager.set("alice", yield* login(server))
      assert.strictEqual((yield* Metric.value(histogram)).count, 0)
      yield* adjust("54 seconds")
      const fiber = yield* Effect.fork(manager.get("alice"))
      yield* adjust("300 millis")
      yield* Fiber.join(fiber)
      const after = yield* Metric.value(histogram)
      assert.strictEqual(after.count, 1)
      assert.strictEqual(after.sum, 300)
      // A failed attempt is timed too.
      yield* failNext(server, "server_error")
      yield* adjust("54 seconds")
      const failed = yield* Effect.fork(manager.get("alice"))
      yield* adjust("300 millis")
      yield* Fiber.join(failed)
      assert.strictEqual((yield* Metric.value(histogram)).count, 2)
    }))

  it.scoped("tokenfx_token_refresh_failures counts by error tag; refreshes and adoptions carry the client", () =>
    Effect.gen(function*() {
      const client = "refresh-failures"
      const { manager, server } = yield* setup({ clientLabel: client })
      yield* manager.set("alice", yield* login(server))
      yield* failNext(server, "server_error")
      yield* adjust("54 seconds")
      yield* manager.get("alice")
      assert.strictEqual(yield* count(Telemetry.refreshFailures, client, { error: "ServerError" }), 1)
      yield* server.failNext(1, { status: 401, body: { error: "invalid_client" } })
      yield* adjust("1 second")
      yield* manager.get("alice")
      assert.strictEqual(yield* count(Telemetry.refreshFailures, client, { error: "InvalidClient" }), 1)
      assert.strictEqual(yield* count(Telemetry.refreshFailures, client, { error: "ServerError" }), 1)
      assert.strictEqual(yield* count(Telemetry.refreshes, client), 0)
      yield* adjust("2 seconds")
      yield* manager.get("alice")
      assert.strictEqual(yield* count(Telemetry.refreshes, client), 1)
      assert.strictEqual(yield* count(Telemetry.adoptions, client), 0)
    }))

  it.scoped("tokenfx_tokens_active follows each key through fresh, refresh window, expired, dead and out", () =>
    Effect.gen(function*() {
      const client = "tokens-active"
      const { endpoint, manager, server } = yield* setup({ clientLabel: client, idleTimeToLive: "5 minutes" })
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 0, dead: 0 })
      yield* manager.set("alice", yield* login(server))
      const bob = yield* login(server, "bob")
      yield* manager.set("bob", bob)
      assert.deepStrictEqual(yield* active(client), { fresh: 2, refresh_window: 0, expired: 0, dead: 0 })
      // Time alone moves them: nobody asks for a token.
      yield* adjust(53_999)
      assert.deepStrictEqual(yield* active(client), { fresh: 2, refresh_window: 0, expired: 0, dead: 0 })
      yield* adjust(1)
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 2, expired: 0, dead: 0 })
      yield* manager.get("alice")
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 1, expired: 0, dead: 0 })
      yield* adjust("6 seconds")
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 1, dead: 0 })
      // Bob's grant ends at the server (his refresh token revoked); Alice's lives on.
      yield* Effect.orDie(endpoint.revoke(Option.getOrThrow(Option.fromNullable(bob.refreshToken)), "refresh_token"))
      const dead = yield* Effect.flip(manager.get("bob"))
      assert.strictEqual(dead._tag, "ReconnectRequired")
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 1 })
      // Asking again for the dead key leaves it dead, counted once.
      yield* Effect.exit(manager.get("bob"))
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 1 })
      yield* manager.revoke("bob")
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 0 })
      yield* manager.revoke("alice")
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 0, dead: 0 })
      // A key released after `idleTimeToLive` is no longer held: it would count as expired otherwise.
      yield* manager.set("carol", yield* login(server, "carol"))
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 0 })
      yield* adjust("2 minutes")
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 1, dead: 0 })
      yield* adjust("10 minutes")
      assert.deepStrictEqual(yield* manager.keys, [])
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 0, dead: 0 })
    }))

  it.effect("tokenfx_tokens_active: closing the manager takes its keys out; managers sharing a label add up", () =>
    Effect.gen(function*() {
      const client = "tokens-active-scope"
      const server = yield* makeServer()
      const first = yield* Scope.make()
      const second = yield* Scope.make()
      const one = yield* Scope.extend(setup({ clientLabel: client }, server), first)
      const two = yield* Scope.extend(setup({ clientLabel: client }, server), second)
      yield* one.manager.set("alice", yield* login(server))
      yield* two.manager.set("bob", yield* login(server, "bob"))
      yield* two.manager.set("carol", yield* login(server, "carol"))
      assert.strictEqual(yield* gauge(Telemetry.tokensActive, client, { state: "fresh" }), 3)
      yield* Scope.close(second, Exit.void)
      assert.strictEqual(yield* gauge(Telemetry.tokensActive, client, { state: "fresh" }), 1)
      yield* Scope.close(first, Exit.void)
      assert.strictEqual(yield* gauge(Telemetry.tokensActive, client, { state: "fresh" }), 0)
    }))

  it.scoped("tokenfx_reconnects_required counts dead grants by reason", () =>
    Effect.gen(function*() {
      const client = "reconnects"
      const { manager, server } = yield* setup({ clientLabel: client })
      yield* manager.set("alice", yield* login(server))
      yield* server.revokeAll
      yield* adjust("60 seconds")
      yield* Effect.exit(manager.get("alice"))
      yield* Effect.exit(manager.get("alice"))
      assert.strictEqual(yield* count(Telemetry.reconnectsRequired, client, { reason: "invalid_grant" }), 1)
      // A key that never had a token is not a reconnect.
      yield* Effect.exit(manager.get("nobody"))
      assert.strictEqual(yield* count(Telemetry.reconnectsRequired, client, { reason: "no_token" }), 0)
    }))

  it.scoped("tokenfx_refresh_tokens_expiring and reconnects_required{refresh_token_expiring} follow ReconnectSoon", () =>
    Effect.gen(function*() {
      const client = "expiring"
      const scope = yield* Scope.make()
      const { drain, manager } = yield* Scope.extend(
        setup({ clientLabel: client, reconnectWarning: "10 minutes" }),
        scope
      )
      const dying = (refreshTokenTtl: number) =>
        Effect.map(Clock.currentTimeMillis, (now) =>
          Token.make({
            access_token: Redacted.make("at"),
            token_type: "Bearer",
            expires_in: 7200,
            refresh_token: Redacted.make("rt"),
            refresh_token_expires_in: refreshTokenTtl
          }, now))
      const expiring = gauge(Telemetry.refreshTokensExpiring, client)
      const warnings = count(Telemetry.reconnectsRequired, client, { reason: "refresh_token_expiring" })
      yield* manager.set("alice", yield* dying(3600))
      yield* adjust("49 minutes")
      assert.strictEqual(yield* expiring, 0)
      yield* adjust("1 minute")
      assert.strictEqual(yield* expiring, 1)
      assert.strictEqual(yield* warnings, 1)
      assert.include((yield* drain).map((event) => event._tag), "ReconnectSoon")
      // A new login with a later expiry: no longer expiring.
      yield* manager.set("alice", yield* dying(7200))
      assert.strictEqual(yield* expiring, 0)
      yield* adjust("110 minutes")
      assert.strictEqual(yield* expiring, 1)
      assert.strictEqual(yield* warnings, 2)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* expiring, 0)
    }))

  it.scoped("tokenfx_rate_limit_waits{operation=tokenManager}: a refresh postponed for Retry-After", () =>
    Effect.gen(function*() {
      const client = "manager-rate-limit"
      const { manager, server } = yield* setup({ clientLabel: client })
      yield* manager.set("alice", yield* login(server))
      yield* failNext(server, "server_error")
      yield* adjust("54 seconds")
      yield* manager.get("alice")
      assert.strictEqual(yield* count(Telemetry.rateLimitWaits, client, { operation: "tokenManager" }), 0)
      yield* failNext(server, "rate_limited", { retryAfter: 3 })
      yield* adjust("2 seconds")
      yield* manager.get("alice")
      assert.strictEqual(yield* count(Telemetry.rateLimitWaits, client, { operation: "tokenManager" }), 1)
    }))

  it.scoped("tokenfx_revocations counts by reason; the event and the span carry the same reason", () =>
    Effect.gen(function*() {
      const client = "revocations"
      const { tracer, spans } = RecordingTracer.make()
      const { drain, manager, server } = yield* setup({ clientLabel: client })
      for (const key of ["a", "b", "c", "d"]) yield* manager.set(key, yield* login(server, key))
      const revoke = (key: string, options?: TokenManager.RevokeOptions) =>
        Effect.withTracer(manager.revoke(key, options), tracer)
      yield* revoke("a", { reason: "suspicious_activity" })
      yield* revoke("b")
      yield* revoke("c", { reason: "the user asked on the phone" })
      yield* revoke("d", { reason: "account_deactivated" })
      // Nothing stored: nothing revoked, nothing counted.
      yield* revoke("nobody", { reason: "user_disconnect" })
      const counted = (reason: string) => count(Telemetry.revocations, client, { reason })
      assert.deepStrictEqual(
        yield* Effect.all([
          counted("suspicious_activity"),
          counted("unspecified"),
          counted("other"),
          counted("account_deactivated"),
          counted("user_disconnect")
        ]),
        [1, 1, 1, 1, 0]
      )
      const revoked = (yield* drain).flatMap((event) => event._tag === "Revoked" ? [[event.key, event.reason]] : [])
      assert.deepStrictEqual(revoked, [
        ["a", "suspicious_activity"],
        ["b", "unspecified"],
        ["c", "other"],
        ["d", "account_deactivated"]
      ])
      const attributes = spans.filter((span) => span.name === "TokenManager.revoke")
        .map((span) => span.attributes.get("tokenfx.revocation.reason"))
      assert.deepStrictEqual(attributes, [
        "suspicious_activity",
        "unspecified",
        "other",
        "account_deactivated",
        "user_disconnect"
      ])
    }))

  it("revocationReason keeps the vocabulary, maps missing to unspecified and any other text to other", () => {
    const vocabulary = ["user_disconnect", "suspicious_activity", "account_deactivated", "other", "unspecified"]
    for (const reason of vocabulary) assert.strictEqual(TokenManagerEvent.revocationReason(reason), reason)
    assert.strictEqual(TokenManagerEvent.revocationReason(undefined), "unspecified")
    for (const text of ["", "User_Disconnect", "user_disconnect ", "rt-secret-123", "x".repeat(10_000)]) {
      assert.strictEqual(TokenManagerEvent.revocationReason(text), "other")
    }
  })
})
