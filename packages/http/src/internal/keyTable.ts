/**
 * The per-key states of a `TokenManager` and its hot path. Each state carries its own `get` effect,
 * built once: a cached `get` looks the key up, and running it reads the clock, compares, and answers
 * the held `Exit`. Nothing is allocated per call, and a key costs one small object more (about 48 bytes).
 */
import type * as Token from "@tokenfx/core/Token"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
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
  readonly release: (now: number, idle: number, released?: (state: keyState.KeyState) => void) => void
}

interface Reader {
  readonly read: (state: keyState.KeyState) => Effect.Effect<Token.Token, GetError>
}

// A key's `get`: an effect that is an object of its own rather than a closure (one small object per
// key, about 48 bytes, where a suspended closure cost about 180). It reads the clock when it runs,
// so that a `get` held by a caller still refreshes at the right instant.
class KeyGet extends Effectable.Class<Token.Token, GetError> {
  constructor(readonly state: keyState.KeyState, readonly reader: Reader) {
    super()
  }
  commit(): Effect.Effect<Token.Token, GetError> {
    return this.reader.read(this.state)
  }
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
      state.get = new KeyGet(state, reader)
    }
    state.lastUsed = now
    return state
  }

  const lookup = (key: string): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend(() => stateFor(key, clock.unsafeCurrentTimeMillis()).get!)

  const reader: Reader = {
    read: (state) => {
      // A released state's `get`, still held by a caller, looks the key up again.
      if (state.get === undefined) return lookup(state.key)
      const now = clock.unsafeCurrentTimeMillis()
      state.lastUsed = now
      const result = state.result
      return result !== undefined && now < state.refreshAt ? result : join(state)
    }
  }

  return {
    states,
    stateFor,
    get: (key) => states.get(key)?.get ?? lookup(key),
    cached: (key) => keyState.cached(states.get(key), clock.unsafeCurrentTimeMillis()),
    release: (now, idle, released) => {
      for (const [key, state] of states) {
        if (state.flight === undefined && state.persisting === undefined && now - state.lastUsed >= idle) {
          states.delete(key)
          state.get = undefined
          released?.(state)
        }
      }
    }
  }
}
