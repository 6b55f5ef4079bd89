import { assert, describe, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as cooldown from "../src/internal/cooldown.js"

describe("cooldown", () => {
  // As with the scheduler: a quiet period ending less than a nanosecond ahead of a fractional
  // `TestClock` once made `wait` sleep for a zero duration and check again, forever.
  it.effect(
    "a caller waits out a quiet period ending less than a nanosecond ahead, rather than spinning",
    () =>
      Effect.gen(function*() {
        const quiet = yield* cooldown.make("https://as.example/token")
        yield* quiet.extend(Duration.millis(1_000))
        yield* TestClock.setTime(1_000 - 1e-7)
        const waiting = yield* Effect.fork(quiet.wait(60_000))
        // Asleep until a millisecond on, not awake and looking again.
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        assert.deepStrictEqual(Chunk.toReadonlyArray(yield* TestClock.sleeps()), [1_000 - 1e-7 + 1])
        assert.isTrue((yield* Fiber.poll(waiting))._tag === "None")
        yield* TestClock.adjust(1)
        assert.isTrue(yield* Fiber.join(waiting))
        assert.isFalse(yield* quiet.wait(60_000))
      }),
    10_000
  )
})
