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
import * as alarm from "./alarm.js"
import { Heap } from "./heap.js"
import * as keyState from "./keyState.js"

/** @internal */
export interface TokensActive {
  /** Recounts `state` after a change. */
  readonly follow: (state: keyState.KeyState) => void
  /** Stops counting `state` (released, or the manager closed). */
  readonly drop: (state: keyState.KeyState) => void
  /** How many keys have a transition to come. */
  readonly pending: () => number
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
    // Each counted key once in a heap of its next transition, the instant and the place kept on its
    // state: no entry object per key, and none left behind when a token change moves the instant.
    const transitions = new Heap<keyState.KeyState>({
      at: (state) => state.transitionAt,
      get: (state) => state.transitionSlot,
      set: (state, slot) => {
        state.transitionSlot = slot
      }
    })
    const follow = (state: keyState.KeyState): void => {
      const now = clock.unsafeCurrentTimeMillis()
      count(state, keyState.classify(state, now, timing))
      const at = keyState.nextTransition(state, now, timing)
      if (!Number.isFinite(at)) {
        transitions.remove(state)
        return
      }
      if (state.transitionSlot >= 0 && state.transitionAt === at) return
      state.transitionAt = at
      transitions.update(state)
      wake(at)
    }
    // `nextTransition` is always after `now`, so a state followed here leaves the due ones.
    const { wake } = yield* alarm.make({
      fire: (now) =>
        Effect.sync(() => {
          let state: keyState.KeyState | undefined
          while ((state = transitions.peek()) !== undefined && state.transitionAt <= now) {
            transitions.remove(state)
            follow(state)
          }
        }),
      next: () => transitions.peek()?.transitionAt ?? Infinity
    })
    const drop = (state: keyState.KeyState): void => {
      transitions.remove(state)
      count(state, undefined)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const state of held()) drop(state)
      })
    )
    return { follow, drop, pending: () => transitions.size }
  })

const tagged = (client: MetricLabel.MetricLabel, state: TokenState): Metric.Metric.Gauge<number> =>
  Metric.taggedWithLabels(tokensActive, [client, MetricLabel.make("state", state)])
