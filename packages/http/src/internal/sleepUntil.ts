import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * Sleeps until `at`, it being `now`: whole milliseconds, at least one while `at` is ahead. A gap below
 * a nanosecond is a zero `Duration`, so a loop that checks the clock again on waking would never wait.
 * With a real clock that spins until the next millisecond; with `TestClock`, whose instant is fractional
 * after a sleep of fractional length, it spins forever, and `TestClock.adjust` waits for it forever.
 *
 * @internal
 */
export const sleepUntil = (now: number, at: number): Effect.Effect<void> =>
  Effect.sleep(Duration.millis(Math.ceil(at - now)))
