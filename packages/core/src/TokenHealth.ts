/**
 * The health of one token at an instant, in the vocabulary the `tokenfx_tokens_active` gauge, the stores'
 * counts and `tokenfx status` share, decided by one function ({@link classify}) so that they cannot disagree:
 *
 * - `fresh`: valid, no refresh needed yet (a token with no expiry is always fresh);
 * - `refresh_window`: still valid, due for a refresh (the `Expiry` policy's window);
 * - `expired`: no longer valid, and a refresh can still renew it;
 * - `dead`: no longer valid and nothing can renew it (no refresh token, or an expired one): the user must
 *   log in again.
 *
 * @since 0.3.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Expiry from "./Expiry.js"
import * as expiry from "./internal/expiry.js"
import type { Token } from "./Token.js"

/**
 * A token's health.
 *
 * @since 0.3.0
 * @category models
 */
export type State = "fresh" | "refresh_window" | "expired" | "dead"

/**
 * Every {@link State}, in order of decreasing health.
 *
 * @since 0.3.0
 * @category models
 */
export const states: ReadonlyArray<State> = ["fresh", "refresh_window", "expired", "dead"]

/**
 * How a token is judged.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The refresh window and skew. Default `Expiry.defaultPolicy`. */
  readonly policy?: Expiry.Policy | undefined
  /**
   * Whether only a refresh token renews the token (a user's grant). `false` where the grant can be asked
   * for again without the user (client credentials): such a token is never `dead`. Default `true`.
   */
  readonly requiresRefreshToken?: boolean | undefined
}

/**
 * The instant, in epoch milliseconds, from which the token is treated as expired (its expiry less the
 * policy's skew), or `Infinity` when it has no expiry.
 *
 * @since 0.3.0
 * @category combinators
 */
export const expiredAtMillis = (token: Token, options?: Options): number =>
  expiry.expiredAtMillis(token, options?.policy ?? Expiry.defaultPolicy) ?? Infinity

/**
 * When the refresh token stops working (`refresh_token_expires_in`), in epoch milliseconds, or `Infinity`.
 *
 * @since 0.3.0
 * @category combinators
 */
export const refreshTokenExpiredAtMillis = (token: Token): number =>
  token.refreshToken === undefined
    ? -Infinity
    : token.refreshTokenExpiresAt === undefined
    ? Infinity
    : DateTime.toEpochMillis(token.refreshTokenExpiresAt)

/**
 * The instant, in epoch milliseconds, from which the token is due for a refresh (`Infinity` with no
 * expiry). A token that cannot be refreshed (no refresh token, or one dead by then, where one is required)
 * is due only when it expires: it is served until then.
 *
 * @since 0.3.0
 * @category combinators
 */
export const refreshDueAtMillis = (token: Token, options?: Options): number => {
  const expiredAt = expiredAtMillis(token, options)
  const at = expiry.refreshAtMillis(token, options?.policy ?? Expiry.defaultPolicy) ?? Infinity
  return (options?.requiresRefreshToken ?? true) && refreshTokenExpiredAtMillis(token) <= at ? expiredAt : at
}

/**
 * The token's {@link State} at `now` (epoch milliseconds or a `DateTime`).
 *
 * @since 0.3.0
 * @category combinators
 */
export const classify = (token: Token, now: DateTime.DateTime | number, options?: Options): State => {
  const at = expiry.toMillis(now)
  if (at < expiredAtMillis(token, options)) return at < refreshDueAtMillis(token, options) ? "fresh" : "refresh_window"
  const renewable = !(options?.requiresRefreshToken ?? true) || at < refreshTokenExpiredAtMillis(token)
  return renewable ? "expired" : "dead"
}

/**
 * The state of a stored token known only by its expiry (what a store keeps in the clear), with a fixed
 * refresh window: `fresh` (no expiry, or more than `refreshWindow` away), `refresh_window`, or `expired`.
 * A store cannot tell `dead` from `expired` without the token itself.
 *
 * @since 0.3.0
 * @category combinators
 */
export const classifyExpiry = (
  expiresAt: number | undefined,
  now: number,
  refreshWindow: Duration.DurationInput
): Exclude<State, "dead"> =>
  expiresAt === undefined || expiresAt > now + Duration.toMillis(refreshWindow)
    ? "fresh"
    : expiresAt > now
    ? "refresh_window"
    : "expired"
