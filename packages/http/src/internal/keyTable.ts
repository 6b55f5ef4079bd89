/**
 * The per-key states of a `TokenManager` and its hot path. Each state carries its own `get` effect,
 * built once: a cached `get` looks the key up, and running it reads the clock, compares, and answers
 * the held `Exit`. Nothing is allocated per call, and nothing but the key's own state is touched.
 */
import type * as Token from "@tokenfx/core/Token"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { GetError } from "../TokenManagerError.js"
import * as keyState from "./keyState.js"

/** @internal */
export interface KeyTable {
  readonly states: ReadonlyMap<string, keyState.KeyState>
  /** The state of `key`, made when missing, marked used at `now`. */
  readonly stateFor: (key: string, now: number) => keyState.KeyState
  readonly get: (key: string) => Effect.Effect<Token.Token, GetError>
  /** The token `get` would answer at once, read synchronously (see `fastPath`). */
  readonly cached: (key: string) => Token.Token | undefined
  /** Releases the states nobody asked for during `idle` milliseconds, unless something is in flight. */
  readonly release: (now: number, idle: number) => void
}

/** @internal */
export const make = (
  clock: Clock.Clock,
  join: (state: keyState.KeyState) => Effect.Effect<Token.Token, GetError>
): KeyTable => {
  const states = new Map<string, keyState.KeyState>()

  const stateFor = (key: string, now: number): keyState.KeyState => {
    let state = states.get(key)
    if (state === undefined) {
      state = keyState.make(key, now)
      states.set(key, state)
      state.get = getOf(state)
    }
    state.lastUsed = now
    return state
  }

  // A released state's effect, still held by a caller, looks the key up again.
  const getOf = (state: keyState.KeyState): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend(() => {
      if (state.get === undefined) return lookup(state.key)
      const now = clock.unsafeCurrentTimeMillis()
      state.lastUsed = now
      const result = state.result
      return result !== undefined && now < state.refreshAt ? result : join(state)
    })

  const lookup = (key: string): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend(() => stateFor(key, clock.unsafeCurrentTimeMillis()).get!)

  return {
    states,
    stateFor,
    get: (key) => {
      const state = states.get(key)
      return state?.get ?? lookup(key)
    },
    cached: (key) => keyState.cached(states.get(key), clock.unsafeCurrentTimeMillis()),
    release: (now, idle) => {
      for (const [key, state] of states) {
        if (state.flight === undefined && state.persisting === undefined && now - state.lastUsed >= idle) {
          states.delete(key)
          state.get = undefined
        }
      }
    }
  }
}
