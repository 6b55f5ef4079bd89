import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as StoreMetrics from "@tokenfx/http/StoreMetrics"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"

const gauge = (client: string) =>
  Effect.all({
    fresh: Metric.value(tagged(client, "fresh")),
    refresh_window: Metric.value(tagged(client, "refresh_window")),
    expired: Metric.value(tagged(client, "expired"))
  }).pipe(
    Effect.map((s) => ({ fresh: s.fresh.value, refresh_window: s.refresh_window.value, expired: s.expired.value }))
  )

const tagged = (client: string, state: string) =>
  Metric.taggedWithLabels(Telemetry.storeTokens, [Telemetry.clientLabel(client), MetricLabel.make("state", state)])

// A token received now (TestClock at 0) that lives `seconds`.
const living = (seconds: number) => Token.make({ access_token: Redacted.make("a"), expires_in: seconds }, 0)

describe("StoreMetrics", () => {
  it.scoped("polls the store's counts into tokenfx_store_tokens{state} on the schedule, while the layer lives", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory
      yield* store.set("alice", living(3600))
      yield* store.set("bob", living(200))
      yield* Layer.build(
        StoreMetrics.layer({ clientLabel: "store-poll", schedule: Schedule.spaced("10 seconds") }).pipe(
          Layer.provide(Layer.succeed(TokenStore.TokenStore, store))
        )
      )
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(yield* gauge("store-poll"), { fresh: 1, refresh_window: 1, expired: 0 })
      // Time passes and the store changes: the gauge follows at the next poll, not before.
      yield* store.set("carol", living(3600))
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* gauge("store-poll"), { fresh: 1, refresh_window: 1, expired: 0 })
      yield* TestClock.adjust("5 minutes")
      assert.deepStrictEqual(yield* gauge("store-poll"), { fresh: 2, refresh_window: 0, expired: 1 })
    }))

  it.effect("a failed poll leaves the gauge as it was and polling goes on", () =>
    Effect.gen(function*() {
      const memory = yield* TokenStore.makeMemory
      yield* memory.set("alice", living(3600))
      let failing = false
      const store = TokenStore.TokenStore.of({
        ...memory,
        stats: (options) =>
          failing
            ? Effect.fail(new TokenStore.TokenStoreError({ operation: "stats", description: "down" }))
            : memory.stats(options)
      })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* StoreMetrics.poll({ clientLabel: "store-fail", schedule: Schedule.spaced("10 seconds") }).pipe(
          Effect.provideService(TokenStore.TokenStore, store)
        )
        yield* TestClock.adjust(0)
        assert.strictEqual((yield* gauge("store-fail")).fresh, 1)
        failing = true
        yield* memory.set("bob", living(3600))
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* gauge("store-fail")).fresh, 1)
        failing = false
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* gauge("store-fail")).fresh, 2)
      }))
    }))

  it.effect("update answers the counts it published; per-user counts never become labels", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory
      yield* store.set("alice", living(60))
      yield* TestClock.adjust("2 minutes")
      const stats = yield* StoreMetrics.update({ clientLabel: "store-once" }).pipe(
        Effect.provideService(TokenStore.TokenStore, store)
      )
      assert.strictEqual(stats.expired, 1)
      assert.deepStrictEqual(yield* gauge("store-once"), { fresh: 0, refresh_window: 0, expired: 1 })
      const series = (yield* Metric.snapshot).filter((pair) => pair.metricKey.name === "tokenfx_store_tokens")
      for (const pair of series) {
        assert.deepStrictEqual(pair.metricKey.tags.map((tag) => tag.key).sort(), ["client", "state"])
      }
    }))
})
