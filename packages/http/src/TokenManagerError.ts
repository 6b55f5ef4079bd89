/**
 * The errors of a `TokenManager` of its own, beside the token endpoint's and the store's.
 *
 * @since 0.2.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import type * as TokenEndpoint from "./TokenEndpoint.js"

/**
 * Waiting for another holder's lease took longer than `timeout`. The manager does not refresh
 * without the lease: with rotating refresh tokens, two holders presenting the same refresh token can
 * get the whole grant revoked. A still-valid token is returned instead of this error.
 *
 * @since 0.2.0
 * @category errors
 */
export class LeaseTimeout extends Schema.TaggedError<LeaseTimeout>("@tokenfx/http/LeaseTimeout")("LeaseTimeout", {
  key: Schema.String,
  timeout: Schema.DurationFromSelf
}) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `Timed out after ${Duration.format(this.timeout)} waiting for the refresh lease of "${this.key}"`
  }
}

/**
 * The refresh lease could not be kept (the store stopped answering, or another holder took it after
 * it expired). The refresh was abandoned before the refresh token was presented again, and the store
 * is read again on the next attempt.
 *
 * @since 0.2.0
 * @category errors
 */
export class LeaseLost extends Schema.TaggedError<LeaseLost>("@tokenfx/http/LeaseLost")("LeaseLost", {
  key: Schema.String
}) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `Lost the refresh lease of "${this.key}"; the refresh was abandoned and will be tried again`
  }
}

/**
 * A refresh took longer than the manager's `refreshTimeout` and was interrupted before the server
 * answered. With rotating refresh tokens the server may already have rotated the grant: if its answer
 * was on the way, the next refresh presents a consumed refresh token and the grant ends in
 * `ReconnectRequired`. The default timeout (90 seconds, inside the renewed lease) leaves room for the
 * token endpoint's own retries so that this stays rare. A slow store write is not a `RefreshTimeout`:
 * the answer is kept (see `StoreWriteFailed`).
 *
 * @since 0.2.0
 * @category errors
 */
export class RefreshTimeout extends Schema.TaggedError<RefreshTimeout>("@tokenfx/http/RefreshTimeout")(
  "RefreshTimeout",
  {
    key: Schema.String,
    timeout: Schema.DurationFromSelf
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `The refresh of "${this.key}" took longer than ${
      Duration.format(this.timeout)
    } and was interrupted; the server may have rotated the grant meanwhile`
  }
}

/**
 * Why a refresh attempt failed without the grant being dead. With a still-valid token, `get`
 * returns that token instead, and tries again after a backoff.
 *
 * @since 0.2.0
 * @category errors
 */
export type RefreshError =
  | Exclude<TokenEndpoint.GrantError, OAuthError.InvalidGrant>
  | TokenStore.StoreError
  | LeaseTimeout
  | LeaseLost
  | RefreshTimeout

/**
 * The errors of `get`: a refresh that failed with no valid token to fall back on, or a dead grant.
 *
 * @since 0.2.0
 * @category errors
 */
export type GetError = RefreshError | OAuthError.ReconnectRequired
