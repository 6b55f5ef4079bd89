import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import type { Token } from "../Token.js"

// `Expiry.Policy`, structurally: the public module imports this one, not the other way round.
interface Policy {
  readonly fraction: number
  readonly min: Duration.Duration
  readonly max: Duration.Duration
  readonly skew: Duration.Duration
}

/** @internal */
export const defaultPolicy: Policy = {
  fraction: 0.1,
  min: Duration.zero,
  max: Duration.minutes(5),
  skew: Duration.zero
}

/** @internal */
export const toMillis = (now: DateTime.DateTime | number): number =>
  typeof now === "number" ? now : DateTime.toEpochMillis(now)

/**
 * The refresh window of a lifetime in milliseconds: `clamp(fraction × lifetime, min, max)`, never
 * longer than the lifetime itself.
 *
 * @internal
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
 * @internal
 */
export const refreshAtMillis = (token: Token, self: Policy = defaultPolicy): number | undefined => {
  if (token.expiresAt === undefined) return undefined
  const issuedAt = DateTime.toEpochMillis(token.issuedAt)
  const expiresAt = DateTime.toEpochMillis(token.expiresAt)
  const at = expiresAt - windowMillis(expiresAt - issuedAt, self) - Duration.toMillis(self.skew)
  return Math.min(expiresAt, Math.max(issuedAt, Math.floor(at)))
}

/**
 * The instant, in epoch milliseconds, from which the token is treated as expired: its expiry less
 * the skew allowance. `undefined` when it has no expiry.
 *
 * @internal
 */
export const expiredAtMillis = (token: Token, self: Policy = defaultPolicy): number | undefined =>
  token.expiresAt === undefined
    ? undefined
    : DateTime.toEpochMillis(token.expiresAt) - Duration.toMillis(self.skew)

/** Whether the token is inside its refresh window at `now`. @internal */
export const needsRefreshAt = (
  token: Token,
  now: DateTime.DateTime | number,
  self: Policy = defaultPolicy
): boolean => {
  const at = refreshAtMillis(token, self)
  return at !== undefined && toMillis(now) >= at
}

/** Whether the token is expired at `now` (skew allowance included). @internal */
export const isExpiredAt = (token: Token, now: DateTime.DateTime | number, self: Policy = defaultPolicy): boolean => {
  const at = expiredAtMillis(token, self)
  return at !== undefined && toMillis(now) >= at
}

/** How long until the refresh window opens at `now` (zero once it is open). @internal */
export const timeToRefreshAt = (
  token: Token,
  now: DateTime.DateTime | number,
  self: Policy = defaultPolicy
): Duration.Duration | undefined => {
  const at = refreshAtMillis(token, self)
  return at === undefined ? undefined : Duration.millis(Math.max(0, at - toMillis(now)))
}
