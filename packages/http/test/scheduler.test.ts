import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as scheduler from "../src/internal/scheduler.js"

// A scheduler that records the instant of each entry it runs.
const recording = Effect.gen(function*() {
  const ran: Array<number> = []
  const queue = yield* scheduler.make<string>({
    live: () => true,
    run: (entry) => Effect.sync(() => ran.push(entry.at)),
    concurrency: 1,
    scope: yield* Effect.scope
  })
  return { ran, queue }
})

describe("scheduler", () => {
  // A sleep of fractional length leaves `TestClock` at a fractional instant. An entry less than a
  // nanosecond ahead once made the loop sleep for a zero duration, wake, find it not yet due, and
  // sleep again, forever: `TestClock.adjust`, which waits for every fiber to suspend, never returned.
  it.scoped("waits for an entry less than a nanosecond ahead, rather than spinning", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_000 - 1e-7)
      const { queue, ran } = yield* recording
      queue.schedule({ at: 1_000, target: "a", lead: 0, slot: -1 })
      // Asleep until a millisecond on, when the entry is due; not awake and looking again.
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
      assert.deepStrictEqual(Chunk.toReadonlyArray(yield* TestClock.sleeps()), [1_000 - 1e-7 + 1])
      assert.deepStrictEqual(ran, [])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(ran, [1_000])
      assert.strictEqual(queue.size(), 0)
    }), 10_000)

  it.scoped("runs entries in the order of their instants, each once it is due", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const queue = yield* scheduler.make<string>({
        live: (entry) => entry.target !== "dropped",
        run: (entry) => Effect.sync(() => ran.push(entry.target)),
        concurrency: 1,
        scope: yield* Effect.scope
      })
      for (const [at, target] of [[300.5, "c"], [100, "a"], [200.25, "dropped"], [200.5, "b"]] as const) {
        queue.schedule({ at, target, lead: 0, slot: -1 })
      }
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(ran, ["a"])
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(ran, ["a"])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(ran, ["a", "b"])
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(ran, ["a", "b", "c"])
    }), 10_000)

  it.scoped(
    "a cancelled entry leaves the queue at once and never runs; the entry replacing it does",
    () =>
      Effect.gen(function*() {
        const { queue, ran } = yield* recording
        let entry = { at: 100, target: "a", lead: 0, slot: -1 }
        queue.schedule(entry)
        // A key whose token changed a thousand times: each new entry replaces the last.
        for (let i = 1; i <= 1_000; i++) {
          const next = { at: 100 + i, target: "a", lead: 0, slot: -1 }
          queue.cancel(entry)
          queue.schedule(next)
          entry = next
        }
        assert.strictEqual(queue.size(), 1)
        yield* TestClock.adjust(1_100)
        assert.deepStrictEqual(ran, [1_100])
        assert.strictEqual(queue.size(), 0)
        // Cancelling what already ran, or twice, changes nothing.
        queue.cancel(entry)
        queue.cancel(entry)
        assert.strictEqual(queue.size(), 0)
      }),
    10_000
  )

  it.scoped("an entry that stops being live while it waits for a permit never runs", () =>
    Effect.gen(function*() {
      const ran: Array<string> = []
      const dead = new Set<string>()
      const queue = yield* scheduler.make<string>({
        live: (entry) => !dead.has(entry.target),
        // "slow" holds the only permit for 10 ms.
        run: (entry) =>
          Effect.zipRight(
            Effect.sync(() => ran.push(entry.target)),
            entry.target === "slow" ? Effect.sleep(10) : Effect.void
          ),
        concurrency: 1,
        scope: yield* Effect.scope
      })
      for (const target of ["slow", "released", "kept"]) queue.schedule({ at: 100, target, lead: 0, slot: -1 })
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(ran, ["slow"])
      // Taken off the queue, live then: both wait for the permit.
      assert.strictEqual(queue.size(), 0)
      dead.add("released")
      yield* TestClock.adjust(10)
      assert.deepStrictEqual(ran, ["slow", "kept"])
    }), 10_000)
})
