/**
 * The `tokenfx_tokens_active` gauge of a `TokenManager`, kept exact by counting transitions: a key
 * counted under one state moves to another (-1, +1) when its token changes, and at the instants where
 * time alone changes its state (refresh instant, expiry), which one scheduler fiber visits for every
 * key. Counts are increments, never a `set`, so several managers sharing a `client` label add up.
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as Scope from "effect/Scope"
import { tokensActive, type TokenState } from "../Telemetry.js"
import * as keyState from "./keyState.js"
import * as scheduler from "./scheduler.js"

/** @internal */
export interface TokensActive {
  /** Recounts `state` after a change. */
  readonly follow: (state: keyState.KeyState) => void
  /** Stops counting `state` (released, or the manager closed). */
  readonly drop: (state: keyState.KeyState) => void
}

/**
 * `held`: the states a manager holds, taken out of the gauge when its scope closes.
 *
 * @internal
 */
export const make = (
  client: MetricLabel.MetricLabel,
  timing: keyState.Timing,
  held: () => Iterable<keyState.KeyState>
): Effect.Effect<TokensActive, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    const gauges: Record<TokenState, Metric.Metric.Gauge<number>> = {
      fresh: tagged(client, "fresh"),
      refresh_window: tagged(client, "refresh_window"),
      expired: tagged(client, "expired"),
      dead: tagged(client, "dead")
    }
    const count = (state: keyState.KeyState, next: TokenState | undefined): void => {
      if (state.counted === next) return
      if (state.counted !== undefined) gauges[state.counted].unsafeModify(-1, [])
      if (next !== undefined) gauges[next].unsafeModify(1, [])
      state.counted = next
    }
    // The key's pending transition (`transition`, a field of the state rather than a `WeakMap` entry: a
    // few dozen bytes less per key): an older entry is dropped when it comes due.
    const follow = (state: keyState.KeyState): void => {
      const now = clock.unsafeCurrentTimeMillis()
      count(state, keyState.classify(state, now, timing))
      const at = keyState.nextTransition(state, now, timing)
      if (!Number.isFinite(at)) {
        state.transition = undefined
        return
      }
      if (state.transition?.at === at) return
      const entry = { at, target: state, lead: 0, slot: -1 }
      state.transition = entry
      transitions.schedule(entry)
    }
    const transitions = yield* scheduler.make<keyState.KeyState>({
      live: (entry) => entry.target.transition === entry,
      run: (entry) => Effect.sync(() => follow(entry.target)),
      concurrency: 1,
      scope
    })
    const drop = (state: keyState.KeyState): void => {
      state.transition = undefined
      count(state, undefined)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const state of held()) drop(state)
      })
    )
    return { follow, drop }
  })

const tagged = (client: MetricLabel.MetricLabel, state: TokenState): Metric.Metric.Gauge<number> =>
  Metric.taggedWithLabels(tokensActive, [client, MetricLabel.make("state", state)])
