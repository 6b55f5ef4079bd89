/**
 * The per-key states of a `TokenManager` and its hot path. Each state is its key's `get` effect: a
 * cached `get` looks the key up, and running it reads the clock, compares, and answers the held
 * `Exit`. Nothing is allocated per call, and the hot path reads the `Map`, the state's first fields
 * and the `Exit`.
 */
import type * as Token from "@tokenfx/core/Token"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { GetError } from "../TokenManagerError.js"
import * as keyState from "./keyState.js"

/** @internal */
export interface KeyTable {
  readonly state: (key: string) => keyState.KeyState | undefined
  readonly held: () => Iterable<keyState.KeyState>
  readonly keys: () => Array<string>
  /** The state of `key`, made when missing, marked used at `now`. */
  readonly stateFor: (key: string, now: number) => keyState.KeyState
  readonly get: (key: string) => Effect.Effect<Token.Token, GetError>
  /** The token `get` would answer at once, read synchronously (see `fastPath`). */
  readonly cached: (key: string) => Token.Token | undefined
  /**
   * Releases the states nobody asked for during `idle` milliseconds, unless something is in flight.
   * Use is recorded to the second: a state may go up to a second early, and is made again on demand.
   */
  readonly release: (now: number, idle: number, released?: (state: keyState.KeyState) => void) => void
}

const maxSeconds = 2 ** 30 - 1

/** @internal */
export const make = (
  clock: Clock.Clock,
  join: (state: keyState.KeyState) => Effect.Effect<Token.Token, GetError>
): KeyTable => {
  const states = new Map<string, keyState.KeyState>()
  const origin = clock.unsafeCurrentTimeMillis()

  // Whole seconds from the table's origin, clamped to V8's small integers.
  const seconds = (millis: number): number => {
    const second = Math.floor((millis - origin) / 1000)
    return (second > maxSeconds ? maxSeconds : second < keyState.never ? keyState.never : second) | 0
  }

  // The exact rule: `result` until `refreshAt`. Rounded down to the second, `until` is at most
  // `refreshAt`: the hot path never answers later than the rule would.
  const settle = (state: keyState.KeyState, now: number): Effect.Effect<Token.Token> | undefined => {
    const result = state.result
    if (result === undefined || now >= state.refreshAt) return undefined
    state.until = seconds(state.refreshAt)
    return result
  }

  // A key's state, as the effect its `get` is. It reads the clock when it runs, so that a `get` held
  // by a caller still refreshes at the right instant. A class per table: its `commit` reaches the
  // table through its closure, not through a field of every state.
  class Key extends keyState.KeyState {
    commit(): Effect.Effect<Token.Token, GetError> {
      const now = clock.unsafeCurrentTimeMillis()
      const second = seconds(now)
      this.used = second
      if (second < this.until) return this.result!
      // A released state, still held by a caller, looks the key up again.
      if (states.get(this.key) !== this) return lookup(this.key)
      return settle(this, now) ?? join(this)
    }
  }

  const stateFor = (key: string, now: number): keyState.KeyState => {
    const held = states.get(key)
    if (held !== undefined) {
      held.used = seconds(now)
      return held
    }
    const state = new Key(key)
    state.used = seconds(now)
    states.set(key, state)
    return state
  }

  const lookup = (key: string): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend(() => stateFor(key, clock.unsafeCurrentTimeMillis()))

  return {
    state: (key) => states.get(key),
    held: () => states.values(),
    keys: () => Array.from(states.keys()),
    stateFor,
    get: (key) => states.get(key) ?? lookup(key),
    cached: (key) => {
      const state = states.get(key)
      if (state === undefined) return undefined
      const now = clock.unsafeCurrentTimeMillis()
      const second = seconds(now)
      state.used = second
      return second < state.until || settle(state, now) !== undefined ? state.token : undefined
    },
    release: (now, idle, released) => {
      const second = seconds(now)
      for (const [key, state] of states) {
        if (state.flight === undefined && state.persisting === undefined && (second - state.used) * 1000 >= idle) {
          states.delete(key)
          state.until = keyState.never
          released?.(state)
        }
      }
    }
  }
}
