import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as TestClock from "effect/TestClock"
import * as alarm from "../src/internal/alarm.js"

describe("alarm", () => {
  it.scoped("a task that dies is logged, and the alarm still wakes for the ones after it", () =>
    Effect.gen(function*() {
      const due = [100, 200, 300]
      const fired: Array<number> = []
      const logged: Array<string> = []
      const { wake } = yield* alarm.make({
        fire: (now) =>
          Effect.sync(() => {
            while (due.length > 0 && due[0]! <= now) {
              const at = due.shift()!
              if (at === 100) throw new Error("a bug")
              fired.push(at)
            }
          }),
        next: () => due[0] ?? Infinity
      }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logged.push(String(message)))))
      )
      wake(100)
      yield* TestClock.adjust(100)
      assert.deepStrictEqual(fired, [])
      assert.strictEqual(logged.length, 1)
      assert.match(logged[0]!, /a timed task died/)
      yield* TestClock.adjust(200)
      assert.deepStrictEqual(fired, [200, 300])
    }))

  it.scoped("wakes early for something earlier than what it sleeps until", () =>
    Effect.gen(function*() {
      const due: Array<number> = [1_000]
      const fired: Array<number> = []
      const { wake } = yield* alarm.make({
        fire: (now) =>
          Effect.sync(() => {
            due.sort((a, b) => a - b)
            while (due.length > 0 && due[0]! <= now) fired.push(due.shift()!)
          }),
        next: () => due[0] ?? Infinity
      })
      wake(1_000)
      yield* TestClock.adjust(10)
      due.push(50)
      wake(50)
      yield* TestClock.adjust(40)
      assert.deepStrictEqual(fired, [50])
      yield* TestClock.adjust(950)
      assert.deepStrictEqual(fired, [50, 1_000])
    }))
})
