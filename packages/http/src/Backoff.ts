/**
 * Retrying an authorization server politely: exponential backoff with jitter, never sooner than the
 * server's `Retry-After`, bounded by a number of attempts and a total time. (A `TokenEndpoint` also
 * shares one cooldown among every caller of an endpoint, so that one `Retry-After` quiets them all.)
 *
 * Errors that retrying cannot fix (`invalid_grant`, `invalid_client`, `unauthorized_client`,
 * `unsupported_grant_type`, `invalid_scope`) are never retried.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual, identity } from "effect/Function"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as number from "./internal/number.js"

/**
 * How hard to retry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Attempts in all, the first included. `1` never retries. */
  readonly maxAttempts: number
  /** No retry is scheduled to start later than this after the first attempt began. */
  readonly maxElapsed: Duration.Duration
  /** The first wait. */
  readonly base: Duration.Duration
  /** Each wait is the previous one times `factor`. */
  readonly factor: number
  /** The longest wait the exponential part may reach (a `Retry-After` may be longer). */
  readonly maxDelay: Duration.Duration
  /** Each wait is scaled by a random factor in `[1 - jitter, 1 + jitter]`; `0` turns jitter off. */
  readonly jitter: number
}

/**
 * The backoff's settings, each with a default: attempts, total time, base delay, growth factor, largest delay and jitter.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly maxAttempts?: number | undefined
  readonly maxElapsed?: Duration.DurationInput | undefined
  readonly base?: Duration.DurationInput | undefined
  readonly factor?: number | undefined
  readonly maxDelay?: Duration.DurationInput | undefined
  readonly jitter?: number | undefined
}

/**
 * Four attempts within a minute, waiting about 0.5 s, 1 s, 2 s (±20%), or longer when the server
 * says so.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: Policy = {
  maxAttempts: 4,
  maxElapsed: Duration.minutes(1),
  base: Duration.millis(500),
  factor: 2,
  maxDelay: Duration.seconds(10),
  jitter: 0.2
}

/**
 * A policy from the default, with every number brought into range.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (options: Options = {}): Policy => ({
  maxAttempts: Math.floor(number.finiteOr(options.maxAttempts, defaultPolicy.maxAttempts, 1)),
  maxElapsed: options.maxElapsed === undefined ? defaultPolicy.maxElapsed : Duration.decode(options.maxElapsed),
  base: options.base === undefined ? defaultPolicy.base : Duration.decode(options.base),
  factor: number.finiteOr(options.factor, defaultPolicy.factor, 1),
  maxDelay: options.maxDelay === undefined ? defaultPolicy.maxDelay : Duration.decode(options.maxDelay),
  jitter: number.finiteOr(options.jitter, defaultPolicy.jitter, 0, 1)
})

/**
 * The codes that retrying the same request cannot fix.
 *
 * @since 0.1.0
 * @category models
 */
export const neverRetried: ReadonlySet<string> = new Set([
  "invalid_grant",
  "invalid_client",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope"
])

const statusOf = (error: OAuthError.OAuthError): number | undefined =>
  "status" in error && typeof error.status === "number" ? error.status : undefined

/**
 * Whether an error is worth retrying: rate limiting (`rate_limited`, HTTP 429), an unavailable or
 * failing server (`temporarily_unavailable`, `server_error`, any 5xx) and transport failures
 * (connection, timeout), but never a code in {@link neverRetried}.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRetryable = (error: OAuthError.OAuthError): boolean => {
  // Device flow answers are handled by the poller, whatever status they come with.
  if (neverRetried.has(error.code) || error.disposition === "poll") return false
  if (OAuthError.isRetryable(error)) return true
  const status = statusOf(error)
  return status !== undefined && (status === 429 || status >= 500)
}

/**
 * The wait the server asked for with `Retry-After`, if it did: the `retryAfter` of an OAuth error, or
 * of any other error that carries one.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryAfter = (error: unknown): Duration.Duration | undefined =>
  Predicate.hasProperty(error, "retryAfter") && Duration.isDuration(error.retryAfter) ? error.retryAfter : undefined

/**
 * The retry schedule of a policy for a call that must not start a retry after `deadline` (epoch
 * milliseconds): exponential waits capped at `maxDelay`, jittered, raised to the error's `Retry-After`,
 * and only while the error {@link isRetryable}. Its output is the wait before the next attempt.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schedule = <E extends OAuthError.OAuthError>(
  self: Policy,
  deadline: number
): Schedule.Schedule<Duration.Duration, E> =>
  Schedule.exponential(self.base, self.factor).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, self.maxDelay)),
    self.jitter > 0 ? Schedule.jitteredWith({ min: 1 - self.jitter, max: 1 + self.jitter }) : identity,
    Schedule.intersect(Schedule.recurs(self.maxAttempts - 1)),
    Schedule.intersect(Schedule.identity<E>()),
    Schedule.whileInput((error: E) => isRetryable(error)),
    Schedule.modifyDelay(([, error], delay) => Duration.max(delay, retryAfter(error) ?? Duration.zero)),
    Schedule.delays,
    // A retry that would start past the deadline is not worth waiting for: the last error is returned.
    Schedule.checkEffect((_, delay) =>
      Effect.map(Clock.currentTimeMillis, (now) => now + Duration.toMillis(delay) <= deadline)
    )
  )

/**
 * How `retry` retries: the policy, and a hook run before each retry.
 *
 * @since 0.1.0
 * @category models
 */
export interface RetryOptions<E> {
  readonly policy?: Policy | undefined
  /** Runs before each retry, with the error that caused it and the wait ahead. */
  readonly onRetry?: ((error: E | OAuthError.RateLimited, delay: Duration.Duration) => Effect.Effect<void>) | undefined
}

/**
 * Runs `self`, retrying it on the {@link schedule} of the policy (the default policy when none is
 * given). When it gives up, the last error is returned.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <E extends OAuthError.OAuthError>(
    options: RetryOptions<E>
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | OAuthError.RateLimited, R>
  <A, E extends OAuthError.OAuthError, R>(
    self: Effect.Effect<A, E, R>,
    options: RetryOptions<E>
  ): Effect.Effect<A, E | OAuthError.RateLimited, R>
} = dual(2, <A, E extends OAuthError.OAuthError, R>(
  self: Effect.Effect<A, E, R>,
  options: RetryOptions<E>
): Effect.Effect<A, E | OAuthError.RateLimited, R> =>
  Effect.flatMap(Clock.currentTimeMillis, (start) => {
    const policy = options.policy ?? defaultPolicy
    const deadline = start + Duration.toMillis(policy.maxElapsed)
    const base = schedule<E | OAuthError.RateLimited>(policy, deadline)
    const onRetry = options.onRetry
    return Effect.retry(
      self,
      onRetry === undefined ? base : base.pipe(
        Schedule.intersect(Schedule.identity<E | OAuthError.RateLimited>()),
        // Not `tapOutput`: that also runs on the final step, when no retry follows.
        Schedule.modifyDelayEffect(([delay, error], wait) => Effect.as(onRetry(error, delay), wait)),
        Schedule.map(([delay]) => delay)
      )
    )
  }))
