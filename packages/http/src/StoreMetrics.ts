/**
 * Publishes a `TokenStore`'s counts (`TokenStore.stats`) as the `tokenfx_store_tokens{state}` gauge,
 * polled on a `Schedule`: how many tokens the whole store holds, fresh, due for a refresh or expired,
 * across every process that shares it (the `TokenManager`'s own gauge, `tokenfx_tokens_active`, counts
 * only the keys one process holds in memory).
 *
 * Only the totals become metrics: per-user counts (`stats({ byUser: true })`) would make one series per
 * user, so they stay with the API and `tokenfx status`.
 *
 * @since 0.3.0
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Telemetry from "./Telemetry.js"

/**
 * How the store is polled.
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The `client` label of the gauge (default `"default"`): one per polled store. */
  readonly clientLabel?: string | undefined
  /** When to poll again after a poll. Default every 30 seconds. */
  readonly schedule?: Schedule.Schedule<unknown, unknown> | undefined
  /** How long before its expiry a token counts as `refresh_window` (see `TokenStore.StatsOptions`). */
  readonly refreshWindow?: Duration.DurationInput | undefined
}

/**
 * The default polling schedule: every 30 seconds.
 *
 * @since 0.3.0
 * @category constructors
 */
export const defaultSchedule: Schedule.Schedule<number> = Schedule.spaced("30 seconds")

const states = ["fresh", "refresh_window", "expired"] as const

/**
 * Reads the store's counts once and sets the gauge.
 *
 * @since 0.3.0
 * @category constructors
 */
export const update = (
  options?: Options | undefined
): Effect.Effect<TokenStore.Stats, TokenStore.StoreError, TokenStore.TokenStore> =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const stats = yield* store.stats({ refreshWindow: options?.refreshWindow })
    const client = Telemetry.clientLabel(options?.clientLabel)
    for (const state of states) {
      yield* Metric.set(
        Metric.taggedWithLabels(Telemetry.storeTokens, [client, MetricLabel.make("state", state)]),
        stats[state]
      )
    }
    return stats
  }).pipe(Effect.withSpan("StoreMetrics.update"))

/**
 * Polls the store now and then on the schedule, for as long as the scope is open. A failed poll is
 * logged (as a warning) and leaves the gauge at its last value; polling goes on.
 *
 * @since 0.3.0
 * @category constructors
 */
export const poll = (
  options?: Options | undefined
): Effect.Effect<void, never, TokenStore.TokenStore | Scope.Scope> =>
  update(options).pipe(
    Effect.catchAll((error) => Effect.logWarning("tokenfx: could not count the stored tokens", error.message)),
    Effect.repeat(options?.schedule ?? defaultSchedule),
    Effect.forkScoped,
    Effect.asVoid
  )

/**
 * A layer that polls the `TokenStore` in context into `tokenfx_store_tokens` while it lives.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (options?: Options | undefined): Layer.Layer<never, never, TokenStore.TokenStore> =>
  Layer.scopedDiscard(poll(options))
