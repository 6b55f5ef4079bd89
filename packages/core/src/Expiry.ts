/**
 * When a token must be refreshed. The refresh window is `clamp(fraction × lifetime, min, max)` before
 * expiry, plus an allowance for clock skew: by default 10% of the lifetime, at most 5 minutes, so a
 * one-hour token refreshes at 55 minutes and a one-minute token at 54 seconds.
 *
 * Pure functions take `now` (epoch milliseconds or a `DateTime`); their effectful twins read `Clock`.
 * A token with no expiry never needs a proactive refresh: the 401 path covers it.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
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
export const defaultPolicy: Policy = {
  fraction: 0.1,
  min: Duration.zero,
  max: Duration.minutes(5),
  skew: Duration.zero
}

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

const toMillis = (now: DateTime.DateTime | number): number =>
  typeof now === "number" ? now : DateTime.toEpochMillis(now)

/**
 * The refresh window of a lifetime in milliseconds: `clamp(fraction × lifetime, min, max)`, never
 * longer than the lifetime itself.
 *
 * @since 0.1.0
 * @category combinators
 */
export const windowMillis = (lifetimeMillis: number, self: Policy = defaultPolicy): number => {
  const lifetime = Math.max(0, lifetimeMillis)
  const window = Math.min(
    Duration.toMillis(self.max),
    Math.max(Duration.toMillis(self.min), self.fraction * lifetime)
  )
  return Math.min(lifetime, window)
}

/**
 * The instant, in epoch milliseconds, from which the token needs a refresh, or `undefined` when it
 * has no expiry. Always between `issuedAt` and `expiresAt`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const refreshAtMillis = (token: Token, self: Policy = defaultPolicy): number | undefined => {
  if (token.expiresAt === undefined) return undefined
  const issuedAt = DateTime.toEpochMillis(token.issuedAt)
  const expiresAt = DateTime.toEpochMillis(token.expiresAt)
  const at = expiresAt - windowMillis(expiresAt - issuedAt, self) - Duration.toMillis(self.skew)
  return Math.min(expiresAt, Math.max(issuedAt, Math.floor(at)))
}

/**
 * {@link refreshAtMillis} as a `DateTime`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const refreshAt = (token: Token, self: Policy = defaultPolicy): DateTime.Utc | undefined => {
  const at = refreshAtMillis(token, self)
  return at === undefined ? undefined : DateTime.unsafeMake(at)
}

/**
 * The instant, in epoch milliseconds, from which the token is treated as expired: its expiry less
 * the skew allowance. `undefined` when it has no expiry.
 *
 * @since 0.1.0
 * @category combinators
 */
export const expiredAtMillis = (token: Token, self: Policy = defaultPolicy): number | undefined =>
  token.expiresAt === undefined
    ? undefined
    : DateTime.toEpochMillis(token.expiresAt) - Duration.toMillis(self.skew)

/**
 * Whether the token is inside its refresh window at `now`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const needsRefreshAt = (
  token: Token,
  now: DateTime.DateTime | number,
  self: Policy = defaultPolicy
): boolean => {
  const at = refreshAtMillis(token, self)
  return at !== undefined && toMillis(now) >= at
}

/**
 * Whether the token is expired at `now` (skew allowance included).
 *
 * @since 0.1.0
 * @category combinators
 */
export const isExpiredAt = (token: Token, now: DateTime.DateTime | number, self: Policy = defaultPolicy): boolean => {
  const at = expiredAtMillis(token, self)
  return at !== undefined && toMillis(now) >= at
}

/**
 * How long until the refresh window opens at `now` (zero once it is open), or `undefined` for a token
 * with no expiry.
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeToRefreshAt = (
  token: Token,
  now: DateTime.DateTime | number,
  self: Policy = defaultPolicy
): Duration.Duration | undefined => {
  const at = refreshAtMillis(token, self)
  return at === undefined ? undefined : Duration.millis(Math.max(0, at - toMillis(now)))
}

/**
 * {@link needsRefreshAt}, reading `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const needsRefresh = (token: Token, self: Policy = defaultPolicy): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => needsRefreshAt(token, now, self))

/**
 * {@link isExpiredAt}, reading `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const isExpired = (token: Token, self: Policy = defaultPolicy): Effect.Effect<boolean> =>
  Effect.map(Clock.currentTimeMillis, (now) => isExpiredAt(token, now, self))

/**
 * {@link timeToRefreshAt}, reading `Clock`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const timeToRefresh = (
  token: Token,
  self: Policy = defaultPolicy
): Effect.Effect<Duration.Duration | undefined> =>
  Effect.map(Clock.currentTimeMillis, (now) => timeToRefreshAt(token, now, self))
