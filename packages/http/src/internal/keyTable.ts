/**
 * The per-key states of a `TokenManager` and its hot path. Each state carries its own `get` effect,
 * built once: a cached `get` looks the key up, and running it reads the clock, compares, and answers
 * the held `Exit`. Nothing is allocated per call, and the hot path reads one object besides the
 * `Map` and the `Exit` (see `keyState.Cached`).
 */
import type * as Token from "@tokenfx/core/Token"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
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

interface Table {
  readonly clock: Clock.Clock
  /** Whole seconds from the table's origin, clamped to V8's small integers. */
  readonly seconds: (millis: number) => number
  /** A `get` whose copy has run out: the exact rule, then the copy is taken again. */
  readonly miss: (get: KeyGet, now: number) => Effect.Effect<Token.Token, GetError>
}

// A key's `get`: an effect that is an object of its own rather than a closure. It reads the clock
// when it runs, so that a `get` held by a caller still refreshes at the right instant.
class KeyGet extends Effectable.Class<Token.Token, GetError> implements keyState.Cached {
  result: Effect.Effect<Token.Token> | undefined = undefined
  until = keyState.never
  constructor(readonly state: keyState.KeyState, readonly table: Table, public used: number) {
    super()
  }
  commit(): Effect.Effect<Token.Token, GetError> {
    const table = this.table
    const now = table.clock.unsafeCurrentTimeMillis()
    const second = table.seconds(now)
    this.used = second
    return second < this.until ? this.result! : table.miss(this, now)
  }
}

/** @internal */
export const make = (
  clock: Clock.Clock,
  join: (state: keyState.KeyState) => Effect.Effect<Token.Token, GetError>
): KeyTable => {
  // Keyed to each state's `get` rather than to the state: a cached `get` reads the `Map`, its `get`
  // and the `Exit`, and not the state.
  const gets = new Map<string, KeyGet>()
  const origin = clock.unsafeCurrentTimeMillis()

  const seconds = (millis: number): number => {
    const second = Math.floor((millis - origin) / 1000)
    return (second > maxSeconds ? maxSeconds : second < keyState.never ? keyState.never : second) | 0
  }

  const stateFor = (key: string, now: number): keyState.KeyState => {
    const get = gets.get(key)
    if (get !== undefined) {
      get.used = seconds(now)
      return get.state
    }
    const state = keyState.make(key)
    const made = new KeyGet(state, table, seconds(now))
    state.get = made
    gets.set(key, made)
    return state
  }

  const lookup = (key: string): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend(() => stateFor(key, clock.unsafeCurrentTimeMillis()).get!)

  // The exact rule: `result` until `refreshAt`. Rounded down to the second, `until` is at most
  // `refreshAt`: the copy never answers later than the rule would.
  const copy = (get: KeyGet, now: number): Effect.Effect<Token.Token> | undefined => {
    const state = get.state
    const result = state.result
    if (result === undefined || now >= state.refreshAt) return undefined
    get.result = result
    get.until = seconds(state.refreshAt)
    return result
  }

  const table: Table = {
    clock,
    seconds,
    // A released state's `get`, still held by a caller, looks the key up again.
    miss: (get, now) => get.state.get !== get ? lookup(get.state.key) : copy(get, now) ?? join(get.state)
  }

  return {
    state: (key) => gets.get(key)?.state,
    held: function*() {
      for (const get of gets.values()) yield get.state
    },
    keys: () => Array.from(gets.keys()),
    stateFor,
    get: (key) => gets.get(key) ?? lookup(key),
    cached: (key) => {
      const get = gets.get(key)
      if (get === undefined) return undefined
      const now = clock.unsafeCurrentTimeMillis()
      const second = seconds(now)
      get.used = second
      return second < get.until || copy(get, now) !== undefined ? get.state.token : undefined
    },
    release: (now, idle, released) => {
      const second = seconds(now)
      for (const [key, get] of gets) {
        const state = get.state
        if (state.flight === undefined && state.persisting === undefined && (second - get.used) * 1000 >= idle) {
          gets.delete(key)
          get.until = keyState.never
          state.get = undefined
          released?.(state)
        }
      }
    }
  }
}
