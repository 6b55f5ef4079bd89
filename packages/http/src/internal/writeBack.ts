/**
 * Storing the token the server answered a refresh with. With rotation it holds the only copy of the
 * new refresh token until it is stored, so the lease is kept until then: a write that fails, or hangs
 * past its bound, leaves the token served from memory while the write is retried in the background.
 */
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { Event } from "../TokenManagerEvent.js"
import type * as keyState from "./keyState.js"
import type * as lease from "./lease.js"
import type * as shutdown from "./shutdown.js"
import { attemptTimeout, within } from "./storeBound.js"

type KeyState = keyState.KeyState
type StoreError = TokenStore.StoreError

/** @internal */
export interface Env {
  readonly store: TokenStore.TokenStore["Type"]
  readonly lease: lease.Lease
  readonly shutdown: shutdown.Shutdown
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
   * Writes `token` by compare-and-set on the version read and answers the key's token, by `deadline`
   * (epoch milliseconds) at the latest. It owns the lease: lets it go once the token is stored or
   * superseded, or hands it to the background write when the store has not taken it by then.
   */
  readonly write: (
    state: KeyState,
    current: TokenStore.Entry | undefined,
    token: Token.Token,
    deadline: number
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

  const cas = (key: string, token: Token.Token, expected: number | undefined) =>
    within("compareAndSet", key, attemptTimeout, store.compareAndSet(key, token, expected))

  const read = (key: string) => within("get", key, attemptTimeout, store.get(key))

  // No later than the caller's deadline (epoch milliseconds).
  const byDeadline = <A>(operation: string, key: string, deadline: number, self: Effect.Effect<A, StoreError>) =>
    Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => within(operation, key, Duration.millis(Math.max(0, deadline - now)), self)
    )

  // Our own write whose answer was lost (an attempt that timed out, and went through) is found stored.
  const isOurs = (entry: TokenStore.Entry, token: Token.Token) =>
    Token.sameAccessToken(entry.token, token) && Token.sameRefreshToken(entry.token, token)

  const recovered = (state: KeyState, entry: TokenStore.Entry) =>
    Effect.zipRight(
      env.install(state, entry),
      env.publish(Event.StoreWriteRecovered({ key: state.key, version: entry.version }))
    )

  // The store failed after the server answered: the new token (maybe a rotated refresh token) exists
  // only here. Serve it from memory and keep the lease, so that no sibling presents the consumed
  // refresh token, until the write goes through.
  const persist = (state: KeyState, current: TokenStore.Entry | undefined, token: Token.Token) =>
    Effect.gen(function*() {
      const write = cas(state.key, token, current?.version).pipe(Effect.retry(persistRetries))
      const written = yield* lease.hold(state.key, write).pipe(Effect.catchTag("LeaseLost", () => write))
      if (Option.isSome(written)) return yield* recovered(state, written.value)
      const now = yield* read(state.key).pipe(Effect.option, Effect.map(Option.flatten))
      if (Option.isNone(now)) return
      if (isOurs(now.value, token)) return yield* recovered(state, now.value)
      // Someone wrote meanwhile (a new login): theirs wins.
      yield* env.adopt(state, now.value)
    }).pipe(Effect.ensuring(lease.release(state.key)))

  const failed = (
    state: KeyState,
    current: TokenStore.Entry | undefined,
    token: Token.Token,
    error: StoreError,
    handOff: () => void
  ) =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<void>()
      state.persisting = done
      // Held at the version read, so the stale stored entry is never taken for a newer one.
      yield* env.stored(state, token, current, { token, version: current?.version ?? 0 })
      yield* env.publish(Event.StoreWriteFailed({ key: state.key, error: error._tag, message: brief(error.message) }))
      yield* Effect.logError("TokenManager: could not store a refreshed token; retrying while serving it from memory")
        .pipe(Effect.annotateLogs({ key: state.key, error: error._tag }))
      handOff()
      yield* env.shutdown.fork(
        state.key,
        persist(state, current, token).pipe(
          Effect.ensuring(Effect.suspend(() => {
            if (state.persisting === done) state.persisting = undefined
            return Deferred.done(done, Exit.void)
          })),
          Effect.interruptible
        ),
        () => true
      )
      return token
    })

  const write: WriteBack["write"] = (state, current, token, deadline) => {
    let handedOff = false
    return Effect.gen(function*() {
      const written = yield* byDeadline(
        "compareAndSet",
        state.key,
        deadline,
        cas(state.key, token, current?.version).pipe(Effect.retry(writeRetries))
      ).pipe(Effect.either)
      if (written._tag === "Left") {
        return yield* failed(state, current, token, written.left, () => handedOff = true)
      }
      if (Option.isSome(written.right)) {
        yield* env.stored(state, token, current, written.right.value)
        return token
      }
      const now = yield* byDeadline("get", state.key, deadline, read(state.key))
      if (Option.isNone(now)) return yield* env.removed(state)
      if (isOurs(now.value, token)) {
        yield* env.stored(state, token, current, now.value)
        return token
      }
      return yield* env.adopt(state, now.value)
    }).pipe(Effect.ensuring(Effect.suspend(() => handedOff ? Effect.void : lease.release(state.key))))
  }

  return { write }
}
