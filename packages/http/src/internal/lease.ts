/**
 * The refresh lease of a key in the store, as one holder sees it: taken (or a sibling's fresh token
 * adopted while waiting), kept alive while the work it protects runs, checked before the refresh
 * token is presented, and let go.
 */
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import { LeaseLost, LeaseTimeout } from "../TokenManagerError.js"
import { within } from "./storeBound.js"

/** @internal */
export interface Options {
  readonly store: TokenStore.TokenStore["Type"]
  readonly ttl: Duration.Duration
  readonly wait: Duration.Duration
  /** Where releases run, so that nobody waits for one. */
  readonly scope: Scope.Scope
}

/** @internal */
export interface Lease {
  /**
   * Takes the lease (`None`), or answers a sibling's token that `adoptable` finds in the store while
   * waiting (`Some`). Fails with `LeaseTimeout` after `wait`.
   */
  readonly acquire: <E>(
    key: string,
    adoptable: Effect.Effect<Option.Option<TokenStore.Entry>, E>
  ) => Effect.Effect<Option.Option<TokenStore.Entry>, LeaseTimeout | TokenStore.StoreError | E>
  /**
   * Runs `use` while renewing the lease every third of its time to live. When a renewal finds the
   * lease taken, or the store has not confirmed it for so long that it may expire (a renewal that
   * hangs counts as failed), `use` is interrupted and the result is `LeaseLost`: nothing may be
   * presented or written without it.
   */
  readonly hold: <A, E, R>(key: string, use: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LeaseLost, R>
  /** Takes the lease if it is free (or already ours), without waiting (a `StoreError` when unanswered). */
  readonly tryAcquire: (key: string) => Effect.Effect<boolean, TokenStore.StoreError>
  /** Renews the lease now: fails with `LeaseLost` when it is no longer ours (a `StoreError` when unanswered). */
  readonly check: (key: string) => Effect.Effect<void, LeaseLost | TokenStore.StoreError>
  /**
   * Lets the lease go in the background, within a third of its time to live (it lapses on its own
   * otherwise); the next `acquire` or `tryAcquire` of the key waits for it.
   */
  readonly release: (key: string) => Effect.Effect<void>
}

class Busy extends Data.TaggedError("Busy") {}

/** @internal */
export const make = (options: Options): Effect.Effect<Lease> =>
  Effect.gen(function*() {
    const { store, ttl } = options
    // Unguessable, so that no one else can renew or release this holder's lease.
    const owner = globalThis.crypto.randomUUID()
    const ttlMillis = Duration.toMillis(ttl)
    const intervalMillis = Math.max(1, Math.floor(ttlMillis / 3))
    const interval = Duration.millis(intervalMillis)
    const waiting = Schedule.exponential(Duration.millis(20)).pipe(
      Schedule.union(Schedule.spaced(Duration.seconds(1))),
      Schedule.jittered,
      Schedule.upTo(options.wait)
    )

    // The releases under way per key. A release landing after our next acquisition would let go of the
    // new lease (same owner): an acquisition waits for the release before it.
    const releasing = new Map<string, Deferred.Deferred<void>>()
    const released = (key: string) =>
      Effect.suspend(() => {
        const pending = releasing.get(key)
        return pending === undefined ? Effect.void : Deferred.await(pending)
      })
    // Unanswered within a third of its time to live, an acquisition is a failed one (a lease it took
    // regardless lapses, or is ours again at the next try).
    const tryAcquire = (key: string) =>
      Effect.zipRight(released(key), within("acquireLease", key, interval, store.acquireLease(key, owner, ttl)))

    const acquire = <E>(key: string, adoptable: Effect.Effect<Option.Option<TokenStore.Entry>, E>) =>
      Effect.gen(function*() {
        if (yield* tryAcquire(key)) return Option.none<TokenStore.Entry>()
        const found = yield* adoptable
        if (Option.isSome(found)) return found
        return yield* new Busy()
      }).pipe(
        Effect.retry({ schedule: waiting, while: (error) => error instanceof Busy }),
        Effect.catchIf(
          (error): error is Busy => error instanceof Busy,
          () => new LeaseTimeout({ key, timeout: options.wait })
        )
      )

    // A renewal that has not answered within `bound` is a failed one: a hung store must not keep us
    // believing we hold a lease that may have lapsed.
    const renew = (key: string, bound: Duration.DurationInput) =>
      within("renewLease", key, bound, store.renewLease(key, owner, ttl))

    const check = (key: string) =>
      Effect.flatMap(renew(key, interval), (held) => held ? Effect.void : new LeaseLost({ key }))

    // Never succeeds: fails once the lease can no longer be vouched for.
    const keepAlive = (key: string): Effect.Effect<never, LeaseLost> =>
      Effect.gen(function*() {
        let heldUntil = (yield* Clock.currentTimeMillis) + ttlMillis
        while (true) {
          yield* Effect.sleep(interval)
          const now = yield* Clock.currentTimeMillis
          // An answer is awaited no later than half an interval before the lease would lapse.
          const bound = Math.min(intervalMillis, heldUntil - now - Math.floor(intervalMillis / 2))
          if (bound <= 0) return yield* new LeaseLost({ key })
          const renewed = yield* Effect.either(renew(key, Duration.millis(bound)))
          if (renewed._tag === "Right") {
            if (!renewed.right) return yield* new LeaseLost({ key })
            heldUntil = now + ttlMillis
          } else if ((yield* Clock.currentTimeMillis) + intervalMillis >= heldUntil) {
            // The store is not answering and the lease would lapse before the next try.
            return yield* new LeaseLost({ key })
          }
        }
      })

    const hold = <A, E, R>(key: string, use: Effect.Effect<A, E, R>): Effect.Effect<A, E | LeaseLost, R> =>
      Effect.raceFirst(use, keepAlive(key))

    // A hung release must hold up neither the callers whose refresh is done nor the key's release from
    // memory: it runs in a fiber of its own, bounded, after any release of the key still under way.
    const release = (key: string) =>
      Effect.suspend(() => {
        const before = releasing.get(key)
        const done = Deferred.unsafeMake<void>(FiberId.none)
        releasing.set(key, done)
        return Effect.zipRight(
          before === undefined ? Effect.void : Deferred.await(before),
          within("releaseLease", key, interval, store.releaseLease(key, owner))
        ).pipe(
          Effect.catchAll((error) =>
            Effect.logWarning("TokenManager: could not release the refresh lease").pipe(
              Effect.annotateLogs({ key, error: error._tag })
            )
          ),
          Effect.ensuring(Effect.sync(() => {
            if (releasing.get(key) === done) releasing.delete(key)
            Deferred.unsafeDone(done, Exit.void)
          })),
          Effect.interruptible,
          Effect.forkIn(releases),
          Effect.asVoid
        )
      })

    // A manager closed right after a refresh (a CLI, a job, a shutdown) waits for the releases under way,
    // within their bound, before their scope ends them: left to lapse, a lease keeps every other process
    // from refreshing the key for its time to live. Added after that scope, this runs before it closes.
    const releases = yield* Scope.fork(options.scope, ExecutionStrategy.sequential)
    yield* Scope.addFinalizer(
      options.scope,
      Effect.suspend(() => Effect.forEach(Array.from(releasing.values()), Deferred.await, { discard: true })).pipe(
        Effect.interruptible,
        Effect.timeout(interval),
        Effect.ignore
      )
    )

    return { acquire, tryAcquire, hold, check, release }
  })
