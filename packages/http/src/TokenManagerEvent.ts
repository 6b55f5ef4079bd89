/**
 * What a `TokenManager` tells the outside world: lifecycle events on a stream. An event never carries
 * a secret: keys, versions, error tags and messages only. The metrics are in `Telemetry`.
 *
 * @since 0.2.0
 */
import * as Data from "effect/Data"
import type * as DateTime from "effect/DateTime"

/**
 * A lifecycle event.
 *
 * - `Refreshed`: a new token was written to the store at `version`.
 * - `Rotated`: that new token also carries a new refresh token.
 * - `Adopted`: another holder's token was taken from the store instead of refreshing.
 * - `RefreshFailed`: a refresh attempt failed; `tokenStillValid` says whether callers keep being served.
 * - `RefreshStopped`: failures that retrying cannot fix repeated; no refresh is tried again for the key
 *   until a new token is `set` (`error` says what to fix).
 * - `StoreWriteFailed`: a refreshed (possibly rotated) token could not be written (the store failed, or
 *   did not answer in time); it is served from memory and the write is retried while the lease is held,
 *   so that no sibling presents the consumed refresh token. `StoreWriteRecovered` follows once it is stored.
 * - `ReconnectSoon`: the refresh token expires at `refreshTokenExpiresAt` (`refresh_token_expires_in`)
 *   and no refresh has replaced it `reconnectWarning` ahead of that: unless the key is refreshed before
 *   then, the user must log in again.
 * - `ReconnectRequired`: the grant is dead and its token was removed from the store.
 * - `Revoked`: the token was removed; `atServer` says whether the server revoked it too, `reason` why
 *   it was revoked (see {@link RevocationReason}). Published even when the store then fails (`revoke`
 *   fails with its error, the token maybe still stored), so that what the server did is never lost.
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
  Revoked: { readonly key: string; readonly atServer: boolean; readonly reason: RevocationReason }
}>

/**
 * Constructors and matchers for {@link Event}.
 *
 * @since 0.2.0
 * @category models
 */
export const Event = Data.taggedEnum<Event>()

/**
 * Why a token was revoked: the fixed vocabulary carried by the `Revoked` event, the
 * `tokenfx_revocations` metric and the `TokenManager.revoke` span. `unspecified` when no reason was
 * given.
 *
 * @since 0.3.0
 * @category models
 */
export type RevocationReason =
  | "user_disconnect"
  | "suspicious_activity"
  | "account_deactivated"
  | "other"
  | "unspecified"

const reasons: ReadonlySet<string> = new Set<RevocationReason>([
  "user_disconnect",
  "suspicious_activity",
  "account_deactivated",
  "other",
  "unspecified"
])

/**
 * The {@link RevocationReason} of a caller's reason: itself when it is one, `unspecified` when there
 * is none, and `other` for any other text. Free text is never kept: it is whatever a caller wrote (an
 * error message, a note that quotes a token), so nothing guarantees it holds no secret, and as a
 * metric label it would make the number of series unbounded.
 *
 * @since 0.3.0
 * @category constructors
 */
export const revocationReason = (reason: string | undefined): RevocationReason =>
  reason === undefined ? "unspecified" : reasons.has(reason) ? reason as RevocationReason : "other"
