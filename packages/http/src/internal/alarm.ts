/**
 * One fiber that sleeps until the earliest instant something is due, does what is due, and sleeps
 * again: woken early when something earlier arrives. What is due, and when the next thing is, are the
 * caller's (a queue of its own); the alarm only keeps the time.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import { sleepUntil } from "./sleepUntil.js"

/** @internal */
export interface Alarm {
  /** Something is due at `at`: the alarm wakes then, or earlier. */
  readonly wake: (at: number) => void
}

/**
 * `fire(now)`: does everything due at `now` or before. `next()`: the earliest instant still to come,
 * or `Infinity`. The fiber lives in the scope the alarm is made in.
 *
 * @internal
 */
export const make = (options: {
  readonly fire: (now: number) => Effect.Effect<void>
  readonly next: () => number
}): Effect.Effect<Alarm, never, Scope.Scope> =>
  Effect.gen(function*() {
    let wakeAt = Infinity
    let woken = Deferred.unsafeMake<void>(FiberId.none)
    const wake = (at: number): void => {
      if (at < wakeAt) {
        wakeAt = at
        Deferred.unsafeDone(woken, Exit.void)
      }
    }
    const loop = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        // A defect in what was due (a bug) is logged, and the alarm keeps time for everything else.
        yield* Effect.catchAllDefect(
          options.fire(now),
          (defect) => Effect.logError("tokenfx: a timed task died; the others still run", defect)
        )
        woken = Deferred.unsafeMake<void>(FiberId.none)
        wakeAt = options.next()
        yield* Number.isFinite(wakeAt)
          ? Effect.raceFirst(sleepUntil(now, wakeAt), Deferred.await(woken))
          : Deferred.await(woken)
      }
    })
    yield* Effect.forkScoped(loop)
    return { wake }
  })
