/**
 * The metrics a `TokenManager` records, tagged once with its `client` label.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Telemetry from "../Telemetry.js"
import type { RevocationReason } from "../TokenManagerEvent.js"

/** Why a key must reconnect: the `reason` label of `tokenfx_reconnects_required`. @internal */
export type ReconnectReason =
  | "invalid_grant"
  | "refresh_token_expired"
  | "no_refresh_token"
  | "no_token"
  | "token_removed"
  | "refresh_token_expiring"

/** A reason a refresh ends in `ReconnectRequired`. @internal */
export type Why = Exclude<ReconnectReason, "refresh_token_expiring">

/** The `reason` of a `ReconnectRequired` event and error, per label. @internal */
export const reconnectReasons = {
  invalid_grant: "the refresh token was rejected (invalid_grant)",
  refresh_token_expired: "the refresh token expired",
  no_refresh_token: "the token expired and has no refresh token",
  no_token: "no token is stored",
  token_removed: "the token was removed while it was being refreshed"
} as const

/** @internal */
export interface ManagerMetrics {
  readonly client: MetricLabel.MetricLabel
  readonly adoptions: Metric.Metric.Counter<number>
  readonly refreshes: Metric.Metric.Counter<number>
  readonly rateLimitWaits: Metric.Metric.Counter<number>
  readonly refreshTokensExpiring: Metric.Metric.Gauge<number>
  readonly refreshFailures: (error: string) => Metric.Metric.Counter<number>
  readonly reconnects: (reason: ReconnectReason) => Metric.Metric.Counter<number>
  readonly revocations: (reason: RevocationReason) => Metric.Metric.Counter<number>
  /** Records in `tokenfx_token_refresh_duration` how long `self` ran, whatever its outcome. */
  readonly timed: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** @internal */
export const make = (client: string | undefined): ManagerMetrics => {
  const label = Telemetry.clientLabel(client)
  const labelled = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>, ...labels: Array<[string, string]>) =>
    Metric.taggedWithLabels(metric, [label, ...labels.map(([key, value]) => MetricLabel.make(key, value))])
  const refreshDuration = labelled(Telemetry.refreshDuration)
  return {
    client: label,
    adoptions: labelled(Telemetry.adoptions),
    refreshes: labelled(Telemetry.refreshes),
    rateLimitWaits: labelled(Telemetry.rateLimitWaits, ["operation", "tokenManager"]),
    refreshTokensExpiring: labelled(Telemetry.refreshTokensExpiring),
    refreshFailures: (error) => labelled(Telemetry.refreshFailures, ["error", error]),
    reconnects: (reason) => labelled(Telemetry.reconnectsRequired, ["reason", reason]),
    revocations: (reason) => labelled(Telemetry.revocations, ["reason", reason]),
    timed: (self) =>
      Effect.flatMap(Clock.currentTimeMillis, (start) =>
        Effect.ensuring(
          self,
          Effect.flatMap(
            Clock.currentTimeMillis,
            (end) => Metric.update(refreshDuration, Duration.millis(end - start))
          )
        ))
  }
}
