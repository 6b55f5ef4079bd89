/**
 * When a token must be refreshed. The refresh window is `clamp(fraction × lifetime, min, max)` before
 * expiry, plus an allowance for clock skew: by default 10% of the lifetime, at most 5 minutes, so a
 * one-hour token refreshes at 55 minutes and a one-minute token at 54 seconds.
 *
 * `refreshAt` and `expiredAt` are instants of the token alone; `needsRefresh`, `isExpired` and
 * `timeToRefresh` compare them with the time from `Clock`, so that tests drive them with `TestClock`.
 * A token with no expiry never needs a proactive refresh: the 401 path covers it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as internal from "./internal/expiry.js"
import type { Token } from "./Token.js"

/**
 * When a token is due for a refresh: a window before its expiry, sized as a share of its lifetime within bounds, after allowing for clock skew.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** Share of the lifetime spent inside the refresh window, between 0 and 1. */
  readonly fraction: number
  /** The smallest refresh window. */
  readonly min: Duration.Duration
  /** The largest refresh window. */
  readonly max: Duration.Duration
  /** How far our clock may be behind the server's: the token is treated as expiring that much earlier. */
  readonly skew: Duration.Duration
}

/**
 * 10% of the lifetime, at most 5 minutes, no skew allowance.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: Policy = internal.defaultPolicy

/**
 * Builds a policy from the default, with `fraction` clamped to [0, 1] and `max` at least `min`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (options: {
  readonly fraction?: number | undefined
  readonly min?: Duration.DurationInput | undefined
  readonly max?: Duration.DurationInput | undefined
  readonly skew?: Duration.DurationInput | undefined
}): Policy => {
  const fraction = Math.min(1, Math.max(0, options.fraction ?? defaultPolicy.fraction))
  const min = options.min === undefined ? defaultPolicy.min : Duration.decode(options.min)
  const max = options.max === undefined ? defaultPolicy.max : Duration.decode(options.max)
  return {
    fraction: Number.isFinite(fraction) ? fraction : defaultPolicy.fraction,
    min,
    max: Duration.max(min, max),
    skew: options.skew === undefined ? defaultPolicy.skew : Duration.decode(options.skew)
  }
}

const instant = (millis: number | undefined): DateTime.Utc | undefined =>
  millis === undefined ? undefined : DateTime.unsafeMake(millis)

/**
 * The instant from which the token needs a refresh, or `undefined` when it has no expiry. Always
 * between `issuedAt` and `expiresAt`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const refreshAt = (token: Token, self: Policy = defaultPolicy): DateTime.Utc | undefined =>
  instant(internal.refreshAtMillis(token, self))

/**
 * The instant from which the token is treated as expired: its expiry less the skew allowance, or
 * `undefined` when it has no expiry.
 *
 * @since 0.4.0
 * @category combinators
 */
export const expiredAt = (token: Token, self: Policy = defaultPolicy): DateTime.Utc | undefined =>
  instant(internal.expiredAtMillis(token, self))

/**
 * Whether the token is inside its refresh window, by `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const needsRefresh = (token: Token, self: Policy = defaultPolicy): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => internal.needsRefreshAt(token, now, self))

/**
 * Whether the token is expired (skew allowance included), by `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isExpired = (token: Token, self: Policy = defaultPolicy): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => internal.isExpiredAt(token, now, self))

/**
 * How long until the refresh window opens, by `Clock` (zero once it is open), or `undefined` for a
 * token with no expiry.
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeToRefresh = (
  token: Token,
  self: Policy = defaultPolicy
): Effect.Effect<Duration.Duration | undefined> =>
  Effect.map(Clock.currentTimeMillis, (now) => internal.timeToRefreshAt(token, now, self))
