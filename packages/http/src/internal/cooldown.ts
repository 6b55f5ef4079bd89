import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Backoff from "../Backoff.js"
import { sleepUntil } from "./sleepUntil.js"

/**
 * The shared quiet period of one endpoint. When a server answers with `Retry-After`, every caller of
 * that endpoint waits until it is over before sending, rather than only the caller that was told.
 *
 * @internal
 */
export interface Cooldown {
  /**
   * Waits until the quiet period is over, answering whether it had to wait; fails at once when it ends
   * after `deadline`.
   */
  readonly wait: (deadline: number) => Effect.Effect<boolean, OAuthError.RateLimited>
  /** Extends the quiet period to at least `duration` from now. */
  readonly extend: (duration: Duration.Duration) => Effect.Effect<void>
}

/**
 * A cooldown for one endpoint; `endpoint` only labels the error of a caller that cannot wait. No
 * `Retry-After` quiets the endpoint for longer than `maxCooldown` (default 1 minute): a server asking
 * for a year, or a date in 9999, cannot lock the client out for the life of the process.
 *
 * @internal
 */
export const make = (
  endpoint?: string | undefined,
  options?: { readonly maxCooldown?: Duration.DurationInput | undefined }
): Effect.Effect<Cooldown> =>
  Effect.map(Ref.make(0), (until): Cooldown => {
    const cap = Math.max(
      0,
      Duration.toMillis(options?.maxCooldown === undefined ? Backoff.defaultPolicy.maxElapsed : options.maxCooldown)
    )
    const wait = (deadline: number): Effect.Effect<boolean, OAuthError.RateLimited> =>
      Effect.flatMap(Effect.zip(Clock.currentTimeMillis, Ref.get(until)), ([now, end]) => {
        if (end <= now) return Effect.succeed(false)
        if (end > deadline) {
          return Effect.fail(
            new OAuthError.RateLimited({
              description: "the server asked callers of this endpoint to wait longer than the retry budget",
              endpoint,
              retryAfter: Duration.millis(end - now)
            })
          )
        }
        // Check again after waking: another caller may have been told to wait longer meanwhile.
        return Effect.zipRight(sleepUntil(now, end), Effect.as(wait(deadline), true))
      })
    const extend = (duration: Duration.Duration): Effect.Effect<void> =>
      Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => Ref.update(until, (end) => Math.max(end, now + Math.min(Duration.toMillis(duration), cap)))
      )
    return { wait, extend }
  })

/**
 * Retries `self` with `Backoff.retry`, each attempt waiting for the endpoint's quiet period first (a
 * caller whose budget ends before it fails at once) and extending it by a retryable error's
 * `Retry-After`.
 *
 * @internal
 */
export const retry = <A, E extends OAuthError.OAuthError, R>(
  self: Effect.Effect<A, E, R>,
  cooldown: Cooldown | undefined,
  options: Backoff.RetryOptions<E>
): Effect.Effect<A, E | OAuthError.RateLimited, R> =>
  cooldown === undefined ? Backoff.retry(self, options) : Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const deadline = start + Duration.toMillis((options.policy ?? Backoff.defaultPolicy).maxElapsed)
    const attempt = Effect.zipRight(
      cooldown.wait(deadline),
      Effect.tapError(self, (error) => {
        const wait = Backoff.retryAfter(error)
        return wait !== undefined && Backoff.isRetryable(error) ? cooldown.extend(wait) : Effect.void
      })
    )
    return Backoff.retry(attempt, options as Backoff.RetryOptions<E | OAuthError.RateLimited>)
  })
