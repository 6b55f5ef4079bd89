/**
 * The refresh protocol of a key: one flight per key in a process; across processes, the store's lease
 * (kept alive while the refresh runs, checked before the refresh token is presented); a re-read under
 * the lease to adopt a sibling's token; the new token handed to `writeBack` (written by compare-and-set,
 * kept in memory under the lease while a failed write is retried); a dead grant removed once.
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Backoff from "../Backoff.js"
import { type GetError, type RefreshError, RefreshTimeout } from "../TokenManagerError.js"
import { Event } from "../TokenManagerEvent.js"
import type * as TokenSource from "../TokenSource.js"
import * as exchange from "./exchange.js"
import * as keyState from "./keyState.js"
import type * as lease from "./lease.js"
import { type ManagerMetrics, reconnectReasons, type Why } from "./managerMetrics.js"
import type * as shutdown from "./shutdown.js"
import { attemptTimeout, within } from "./storeBound.js"
import * as writeBack from "./writeBack.js"

type KeyState = keyState.KeyState

/** @internal */
export interface Env {
  readonly clock: Clock.Clock
  readonly store: TokenStore.TokenStore["Type"]
  readonly source: TokenSource.TokenSource["Type"]
  readonly lease: lease.Lease
  readonly timing: keyState.Timing
  /** The manager's end; flights run in its `flights` scope. */
  readonly shutdown: shutdown.Shutdown
  readonly publish: (event: Event) => Effect.Effect<unknown>
  /** Called after the held token changed, so the background scheduler can follow. */
  readonly changed: (state: KeyState) => Effect.Effect<void>
  readonly refreshTimeout: Duration.Duration
  readonly backoff: keyState.Backoff
  /** The longest `Retry-After` honoured between refreshes, in milliseconds. */
  readonly maxRetryAfter: number
  /** How often a caller with no valid token may read the store for a sibling's token during a backoff. */
  readonly peekInterval: number
  /** Consecutive failures that retrying cannot fix before refreshing stops. */
  readonly stopAfter: number
  /** How soon to look again when the lease is busy and the held token is still valid. */
  readonly busyRetry: number
  /** How long a token from a 401-triggered refresh is not refreshed again for a 401. */
  readonly invalidationWindow: number
  readonly metrics: ManagerMetrics
}

/** @internal */
export interface Refresh {
  /** What `get` does off its hot path; `lead` > 0 for a background refresh ahead of time. */
  readonly join: (state: KeyState, lead: number, root: boolean) => Effect.Effect<Token.Token, GetError>
  readonly install: (state: KeyState, entry: TokenStore.Entry) => Effect.Effect<void>
}

// The errors of an OAuth exchange decide for themselves; a store, lease or timeout failure is retried.
const isExchangeError = Schema.is(OAuthError.OAuthError)

const retryable = (error: RefreshError): boolean => isExchangeError(error) ? Backoff.isRetryable(error) : true

/** @internal */
export const make = (env: Env): Refresh => {
  const { lease, store, timing } = env
  const { adoptions, rateLimitWaits, reconnects, refreshes, refreshFailures, timed } = env.metrics
  // A store call made outside the refresh's own bound (the lease another's, or lost; the server's answer
  // in, which refreshTimeout never drops) or deciding its outcome: one that hangs is a failed one, so that
  // no caller waits on it past refreshTimeout.
  const callBound = Duration.min(attemptTimeout, env.refreshTimeout)
  const readSibling = (state: KeyState, lead: number) =>
    Effect.flatMap(within("get", state.key, callBound, store.get(state.key)), freshIn(state, lead))

  const install = (state: KeyState, entry: TokenStore.Entry) =>
    Effect.suspend(() => {
      keyState.install(state, entry, timing)
      return env.changed(state)
    })

  const adopt = (state: KeyState, entry: TokenStore.Entry): Effect.Effect<Token.Token> =>
    Effect.suspend(() => {
      const announce = state.token !== undefined && state.version !== entry.version
      const adopted = Event.Adopted({ key: state.key, version: entry.version })
      return install(state, entry).pipe(
        Effect.zipRight(announce ? Effect.zipRight(Metric.increment(adoptions), env.publish(adopted)) : Effect.void),
        Effect.as(entry.token)
      )
    })

  // A stored entry becomes the best known token unless it is the one held or the rejected one.
  const remember = (state: KeyState, entry: TokenStore.Entry) =>
    state.version === entry.version || keyState.isRejected(state, entry.token) ? Effect.void : install(state, entry)

  const freshIn = (state: KeyState, lead: number) => (entry: Option.Option<TokenStore.Entry>) =>
    Effect.map(
      Clock.currentTimeMillis,
      (now) => Option.filter(entry, (e) => keyState.isFresh(state, e.token, now + lead, timing))
    )

  const reconnect = (state: KeyState, current: TokenStore.Entry | undefined, why: Why, cause?: unknown) =>
    Effect.gen(function*() {
      const reason = reconnectReasons[why]
      if (current !== undefined) {
        // Conditional: a token another holder wrote meanwhile is not ours to remove.
        yield* within("remove", state.key, callBound, store.remove(state.key, current.version)).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("TokenManager: could not remove a dead token").pipe(
              Effect.annotateLogs({ key: state.key, error: error._tag })
            )
          )
        )
        // A token was held and its grant is gone: the key is dead until a new login.
        state.dead = true
        yield* Metric.increment(reconnects(why))
        yield* env.publish(Event.ReconnectRequired({ key: state.key, reason }))
      }
      keyState.clear(state)
      yield* env.changed(state)
      return yield* new OAuthError.ReconnectRequired({ key: state.key, reason, cause })
    })

  const stored = (
    state: KeyState,
    token: Token.Token,
    current: TokenStore.Entry | undefined,
    entry: TokenStore.Entry
  ) =>
    Effect.gen(function*() {
      const forRejection = state.rejected !== undefined
      yield* install(state, entry)
      if (forRejection) keyState.replaced(state, token, env.invalidationWindow)
      yield* Metric.increment(refreshes)
      yield* env.publish(Event.Refreshed({ key: state.key, version: entry.version, expiresAt: token.expiresAt }))
      if (current !== undefined && token.refreshToken !== undefined && !Token.sameRefreshToken(current.token, token)) {
        yield* env.publish(Event.Rotated({ key: state.key, version: entry.version }))
      }
    })

  const writes = writeBack.make({
    store,
    lease,
    shutdown: env.shutdown,
    publish: env.publish,
    install,
    adopt,
    stored,
    removed: (state) => reconnect(state, undefined, "token_removed")
  })

  // invalid_grant: unless another holder rotated the refresh token meanwhile, the grant is dead. A read
  // that fails (or hangs) leaves that unknown: the token is kept, the failure retried like any other.
  const onInvalidGrant = (state: KeyState, current: TokenStore.Entry | undefined, error: OAuthError.InvalidGrant) =>
    Effect.gen(function*() {
      const now = yield* within("get", state.key, callBound, store.get(state.key))
      if (Option.isSome(now) && current !== undefined && !Token.sameRefreshToken(now.value.token, current.token)) {
        return yield* adopt(state, now.value)
      }
      return yield* reconnect(state, current, "invalid_grant", error)
    })

  const renew = (state: KeyState, current: TokenStore.Entry | undefined, section: exchange.Section) =>
    Effect.gen(function*() {
      if (env.source.requiresRefreshToken) {
        if (current === undefined) return yield* reconnect(state, undefined, "no_token")
        if (current.token.refreshToken === undefined) {
          const now = yield* Clock.currentTimeMillis
          if (now < keyState.expiredAt(current.token, timing) && !keyState.isRejected(state, current.token)) {
            return yield* adopt(state, current)
          }
          return yield* reconnect(state, current, "no_refresh_token")
        }
        // A refresh token past its `refresh_token_expires_in` is never presented: the server would
        // only refuse it. The access token is served while it lasts, then the key must reconnect.
        const now = yield* Clock.currentTimeMillis
        if (now >= keyState.refreshTokenExpiredAt(current.token)) {
          if (now < keyState.expiredAt(current.token, timing) && !keyState.isRejected(state, current.token)) {
            const token = yield* adopt(state, current)
            keyState.defer(state, Infinity)
            yield* env.changed(state)
            return token
          }
          return yield* reconnect(state, current, "refresh_token_expired")
        }
      }
      // Ownership right before the refresh token leaves: a holder whose lease lapsed never presents it.
      yield* lease.check(state.key)
      const request = { key: state.key, token: Option.fromNullable(current?.token) }
      // The answer may hold the only copy of a rotated refresh token: the manager's end waits for it.
      const joined = exchange.run({
        key: state.key,
        shutdown: env.shutdown,
        section,
        ask: env.source.token(request),
        write: (token: Token.Token) => writes.write(state, current, token, section.deadline),
        release: lease.release(state.key)
      })
      return yield* timed(
        Effect.catchTag(joined, "InvalidGrant", (error) => onInvalidGrant(state, current, error))
      )
    })

  const underLease = (state: KeyState, lead: number) =>
    Effect.gen(function*() {
      const fresh = freshIn(state, lead)
      const sibling = readSibling(state, lead)
      const now = yield* Clock.currentTimeMillis
      // With a valid token in hand nobody waits for a busy lease: serve it and look again soon.
      const held = state.token
      if (held !== undefined && keyState.isValid(state, now)) {
        if (!(yield* lease.tryAcquire(state.key))) {
          const found = yield* sibling
          if (Option.isSome(found)) return yield* adopt(state, found.value)
          keyState.defer(state, now + env.busyRetry)
          yield* env.changed(state)
          return held
        }
      } else {
        const adopted = yield* lease.acquire(state.key, sibling)
        if (Option.isSome(adopted)) return yield* adopt(state, adopted.value)
      }
      const section: exchange.Section = {
        deadline: (yield* Clock.currentTimeMillis) + Duration.toMillis(env.refreshTimeout),
        answered: false,
        handedOff: false
      }
      // Only a refresh the server has not answered yet times out: an answer is never dropped.
      const expiry = Effect.zipRight(
        Effect.sleep(env.refreshTimeout),
        Effect.suspend(() =>
          section.answered
            ? Effect.never
            : Effect.fail(new RefreshTimeout({ key: state.key, timeout: env.refreshTimeout }))
        )
      )
      return yield* lease.hold(
        state.key,
        Effect.gen(function*() {
          // Read again under the lease: the previous holder may have refreshed already.
          const entry = yield* store.get(state.key)
          const usable = yield* fresh(entry)
          if (Option.isSome(usable)) return yield* adopt(state, usable.value)
          if (Option.isSome(entry)) yield* remember(state, entry.value)
          return yield* renew(state, Option.getOrUndefined(entry), section)
        })
      ).pipe(
        Effect.raceFirst(expiry),
        Effect.ensuring(Effect.suspend(() => section.handedOff ? Effect.void : lease.release(state.key))),
        // Lost the lease: never present the refresh token; a sibling's token is adopted when there is one.
        Effect.catchTag("LeaseLost", (error) =>
          Effect.flatMap(
            sibling,
            (found) => Option.isSome(found) ? adopt(state, found.value) : Effect.fail(error)
          ))
      )
    })

  // A failed refresh: serve the still-valid token until the backoff is over, else fail; stop after
  // repeated failures that retrying cannot fix.
  const recover = (state: KeyState, error: RefreshError) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const asked = Backoff.retryAfter(error)
      const retryAfter = Math.min(env.maxRetryAfter, asked === undefined ? 0 : Duration.toMillis(asked))
      const retryAt = keyState.fail(state, error, now, env.backoff, retryAfter, env.peekInterval)
      const stillValid = keyState.isValid(state, now)
      yield* Metric.increment(refreshFailures(error._tag))
      if (retryAfter > 0) yield* Metric.increment(rateLimitWaits)
      const message = writeBack.brief(error.message)
      yield* env.publish(Event.RefreshFailed({
        key: state.key,
        error: error._tag,
        message,
        tokenStillValid: stillValid,
        retryAt: DateTime.unsafeMake(retryAt)
      }))
      yield* Effect.logWarning("TokenManager: refresh failed").pipe(
        Effect.annotateLogs({ key: state.key, error: error._tag, message, tokenStillValid: stillValid })
      )
      if (!retryable(error) && state.failures >= env.stopAfter) {
        keyState.stop(state, error, now)
        yield* env.publish(Event.RefreshStopped({ key: state.key, error: error._tag, message }))
        yield* Effect.logError("TokenManager: refresh stopped; fix the cause, then set a new token").pipe(
          Effect.annotateLogs({ key: state.key, error: error._tag, message })
        )
      }
      yield* env.changed(state)
      if (stillValid && state.token !== undefined) return state.token
      return yield* Effect.fail(error)
    })

  const flight = (state: KeyState, lead: number, root: boolean): Effect.Effect<Token.Token, GetError> =>
    Effect.gen(function*() {
      // A write still being retried holds the lease and the newest token: wait for it first.
      const persisting = state.persisting
      if (persisting !== undefined) {
        yield* Deferred.await(persisting).pipe(
          Effect.timeoutFail({
            duration: env.refreshTimeout,
            onTimeout: () => new RefreshTimeout({ key: state.key, timeout: env.refreshTimeout })
          })
        )
      }
      if (state.token === undefined) {
        // Bounded like every read outside the lease: a hung one fails this caller with a TokenStoreError.
        const entry = yield* within("get", state.key, callBound, store.get(state.key))
        if (Option.isSome(entry)) {
          yield* remember(state, entry.value)
          const usable = yield* freshIn(state, lead)(entry)
          if (Option.isSome(usable)) return usable.value.token
        }
      }
      return yield* underLease(state, lead)
    }).pipe(
      Effect.catchIf(
        (error): error is RefreshError => error._tag !== "ReconnectRequired",
        (error) => recover(state, error)
      ),
      Effect.withSpan("TokenManager.refresh", { attributes: { "tokenfx.key": state.key }, root })
    )

  // During a backoff with no valid token: a sibling may have refreshed, so read the store (at most
  // once per `peekInterval`) before answering the remembered failure.
  const peek = (state: KeyState): Effect.Effect<Token.Token, GetError> =>
    Effect.gen(function*() {
      // Unanswered (a stuck connection) like failed: the remembered failure is the answer.
      const entry = yield* Effect.option(within("get", state.key, callBound, store.get(state.key)))
      const now = yield* Clock.currentTimeMillis
      const found = Option.flatten(entry)
      if (
        Option.isSome(found) && found.value.version !== state.version &&
        keyState.isFresh(state, found.value.token, now, timing)
      ) return yield* adopt(state, found.value)
      const failure = state.failure
      if (failure === undefined) return yield* flight(state, 0, false)
      failure.nextPeek = now + env.peekInterval
      return yield* Effect.fail(failure.error)
    })

  // Runs `work` in the manager's scope, so that an interrupted caller does not cancel it for the others;
  // everyone awaits the same deferred. The work itself stays interruptible, so its own timeouts fire.
  const start = (state: KeyState, work: Effect.Effect<Token.Token, GetError>) =>
    Effect.uninterruptible(Effect.suspend(() => {
      if (state.flight !== undefined) return Effect.succeed(state.flight)
      // The manager is ending: no lease is taken, no refresh token presented.
      if (env.shutdown.closing()) return Effect.interrupt
      const deferred = Deferred.unsafeMake<Token.Token, GetError>(FiberId.none)
      state.flight = deferred
      return Effect.map(Effect.forkIn(Effect.interruptible(work), env.shutdown.flights), (fiber) => {
        fiber.addObserver((exit) => {
          if (state.flight === deferred) state.flight = undefined
          Deferred.unsafeDone(deferred, exit)
        })
        return deferred
      })
    })).pipe(Effect.flatMap(Deferred.await))

  const join = (state: KeyState, lead: number, root: boolean): Effect.Effect<Token.Token, GetError> =>
    Effect.suspend((): Effect.Effect<Token.Token, GetError> => {
      if (state.flight !== undefined) return Deferred.await(state.flight)
      const decision = keyState.decide(state, env.clock.unsafeCurrentTimeMillis(), lead)
      switch (decision._tag) {
        case "Serve":
          return decision.result
        case "Fail":
          return Effect.fail(decision.error)
        case "Peek":
          return start(state, peek(state))
        case "Refresh":
          return start(state, flight(state, lead, root))
      }
    })

  return { join, install }
}
