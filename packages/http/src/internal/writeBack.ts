/**
 * Storing the token the server answered a refresh with. With rotation it holds the only copy of the
 * new refresh token until it is stored, so the lease is kept until then: a write that fails leaves the
 * token served from memory while the write is retried in the background.
 */
import type * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { Event } from "../TokenManagerEvent.js"
import type * as keyState from "./keyState.js"
import type * as lease from "./lease.js"

type KeyState = keyState.KeyState
type StoreError = TokenStore.StoreError

/** @internal */
export interface Env {
  readonly store: TokenStore.TokenStore["Type"]
  readonly lease: lease.Lease
  readonly scope: Scope.Scope
  readonly publish: (event: Event) => Effect.Effect<unknown>
  readonly install: (state: KeyState, entry: TokenStore.Entry) => Effect.Effect<void>
  readonly adopt: (state: KeyState, entry: TokenStore.Entry) => Effect.Effect<Token.Token>
  /** Holds `token` as the key's new token (written at `entry`), with its events. */
  readonly stored: (
    state: KeyState,
    token: Token.Token,
    current: TokenStore.Entry | undefined,
    entry: TokenStore.Entry
  ) => Effect.Effect<void>
  /** Nothing is stored any more: the key must reconnect. */
  readonly removed: (state: KeyState) => Effect.Effect<never, OAuthError.ReconnectRequired>
}

/** @internal */
export interface WriteBack {
  /**
   * Writes `token` by compare-and-set on the version read and answers the key's token. `handOff` is
   * called once the background write owns the lease.
   */
  readonly write: (
    state: KeyState,
    current: TokenStore.Entry | undefined,
    token: Token.Token,
    handOff: () => void
  ) => Effect.Effect<Token.Token, StoreError | OAuthError.ReconnectRequired>
}

/** Never more than this much of a server's or store's text in a log line. @internal */
export const brief = (message: string): string => message.length > 200 ? `${message.slice(0, 200)}…` : message

/** @internal */
export const make = (env: Env): WriteBack => {
  const { lease, store } = env

  const writeRetries = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(2)))
  const persistRetries = Schedule.exponential(Duration.millis(200)).pipe(
    Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30))),
    Schedule.jittered
  )

  // The store failed after the server answered: the new token (maybe a rotated refresh token) exists
  // only here. Serve it from memory and keep the lease, so that no sibling presents the consumed
  // refresh token, until the write goes through.
  const persist = (state: KeyState, current: TokenStore.Entry | undefined, token: Token.Token) =>
    Effect.gen(function*() {
      const cas = store.compareAndSet(state.key, token, current?.version).pipe(Effect.retry(persistRetries))
      const written = yield* lease.hold(state.key, cas).pipe(Effect.catchTag("LeaseLost", () => cas))
      if (Option.isSome(written)) {
        yield* env.install(state, written.value)
        yield* env.publish(Event.StoreWriteRecovered({ key: state.key, version: written.value.version }))
        return
      }
      // Someone wrote meanwhile (a new login): theirs wins.
      const now = yield* store.get(state.key).pipe(Effect.option, Effect.map(Option.flatten))
      if (Option.isSome(now)) yield* env.adopt(state, now.value)
    }).pipe(Effect.ensuring(lease.release(state.key)))

  const write: WriteBack["write"] = (state, current, token, handOff) =>
    Effect.gen(function*() {
      const written = yield* store.compareAndSet(state.key, token, current?.version).pipe(
        Effect.retry(writeRetries),
        Effect.either
      )
      if (written._tag === "Left") {
        const error = written.left
        const done = yield* Deferred.make<void>()
        state.persisting = done
        // Held at the version read, so the stale stored entry is never taken for a newer one.
        yield* env.stored(state, token, current, { token, version: current?.version ?? 0 })
        yield* env.publish(Event.StoreWriteFailed({ key: state.key, error: error._tag, message: brief(error.message) }))
        yield* Effect.logError("TokenManager: could not store a refreshed token; retrying while serving it from memory")
          .pipe(Effect.annotateLogs({ key: state.key, error: error._tag }))
        handOff()
        yield* persist(state, current, token).pipe(
          Effect.ensuring(Effect.suspend(() => {
            if (state.persisting === done) state.persisting = undefined
            return Deferred.done(done, Exit.void)
          })),
          Effect.interruptible,
          Effect.forkIn(env.scope)
        )
        return token
      }
      if (Option.isSome(written.right)) {
        yield* env.stored(state, token, current, written.right.value)
        return token
      }
      const now = yield* store.get(state.key)
      if (Option.isSome(now)) return yield* env.adopt(state, now.value)
      return yield* env.removed(state)
    })

  return { write }
}
