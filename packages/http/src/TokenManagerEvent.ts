/**
 * What a `TokenManager` tells the outside world: lifecycle events on a stream, and metrics. Neither
 * ever carries a secret: keys, versions, error tags and messages only.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"
import * as Metric from "effect/Metric"

/**
 * A lifecycle event.
 *
 * - `Refreshed`: a new token was written to the store at `version`.
 * - `Rotated`: that new token also carries a new refresh token.
 * - `Adopted`: another holder's token was taken from the store instead of refreshing.
 * - `RefreshFailed`: a refresh attempt failed; `tokenStillValid` says whether callers keep being served.
 * - `RefreshStopped`: failures that retrying cannot fix repeated; no refresh is tried again for the key
 *   until a new token is `set` (`error` says what to fix).
 * - `StoreWriteFailed`: a refreshed (possibly rotated) token could not be written; it is served from
 *   memory and the write is retried while the lease is held, so that no sibling presents the consumed
 *   refresh token. `StoreWriteRecovered` follows once it is stored.
 * - `ReconnectSoon`: the refresh token expires at `refreshTokenExpiresAt` (`refresh_token_expires_in`)
 *   and no refresh has replaced it `reconnectWarning` ahead of that: unless the key is refreshed before
 *   then, the user must log in again.
 * - `ReconnectRequired`: the grant is dead and its token was removed from the store.
 * - `Revoked`: the token was removed; `atServer` says whether the server revoked it too.
 *
 * @since 0.2.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  Refreshed: { readonly key: string; readonly version: number; readonly expiresAt: DateTime.Utc | undefined }
  Rotated: { readonly key: string; readonly version: number }
  Adopted: { readonly key: string; readonly version: number }
  RefreshFailed: {
    readonly key: string
    readonly error: string
    readonly message: string
    readonly tokenStillValid: boolean
    readonly retryAt: DateTime.Utc
  }
  RefreshStopped: { readonly key: string; readonly error: string; readonly message: string }
  StoreWriteFailed: { readonly key: string; readonly error: string; readonly message: string }
  StoreWriteRecovered: { readonly key: string; readonly version: number }
  ReconnectSoon: { readonly key: string; readonly refreshTokenExpiresAt: DateTime.Utc }
  ReconnectRequired: { readonly key: string; readonly reason: string }
  Revoked: { readonly key: string; readonly atServer: boolean }
}>

/**
 * Constructors and matchers for {@link Event}.
 *
 * @since 0.2.0
 * @category models
 */
export const Event = Data.taggedEnum<Event>()

/**
 * Refreshes that produced a new token.
 *
 * @since 0.2.0
 * @category metrics
 */
export const refreshes = Metric.counter("tokenfx_token_refreshes", {
  description: "Token refreshes that produced a new token",
  incremental: true
})

/**
 * Refresh attempts that failed (a dead grant not included).
 *
 * @since 0.2.0
 * @category metrics
 */
export const refreshFailures = Metric.counter("tokenfx_token_refresh_failures", {
  description: "Token refresh attempts that failed",
  incremental: true
})

/**
 * Tokens taken from the store, refreshed by another holder, instead of refreshing.
 *
 * @since 0.2.0
 * @category metrics
 */
export const adoptions = Metric.counter("tokenfx_token_adoptions", {
  description: "Tokens adopted from another holder's refresh",
  incremental: true
})
