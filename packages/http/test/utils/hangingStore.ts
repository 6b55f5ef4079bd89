/**
 * A store over another whose calls hang while their flag is set: a stuck database connection, as the
 * TokenManager tests of store calls that never answer see it.
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

/**
 * Lease acquisitions, renewals, releases, reads or removals hang while their flag is set; `renewalsLost`
 * answers every renewal "no longer yours". A `set` made while `setsHang` waits for `land`, then writes,
 * whatever its caller did meanwhile: a statement already sent lands even when nobody waits for it.
 */
export const hangingStore = (inner: TokenStore.TokenStore["Type"]) => {
  const landing = Deferred.unsafeMake<void>(FiberId.none)
  const state = {
    acquiresHang: false,
    renewalsHang: false,
    renewalsLost: false,
    releasesHang: false,
    // How long a release takes to answer (a round trip to a database).
    releaseDelay: "0 millis" as Duration.DurationInput,
    readsHang: false,
    setsHang: false,
    removesHang: false,
    releases: 0
  }
  const store = TokenStore.TokenStore.of({
    ...inner,
    acquireLease: (key, owner, ttl) =>
      Effect.suspend(() => state.acquiresHang ? Effect.never : inner.acquireLease(key, owner, ttl)),
    renewLease: (key, owner, ttl) =>
      Effect.suspend(() =>
        state.renewalsHang
          ? Effect.never
          : state.renewalsLost
          ? Effect.succeed(false)
          : inner.renewLease(key, owner, ttl)
      ),
    releaseLease: (key, owner) =>
      Effect.suspend(() => {
        state.releases++
        return state.releasesHang ? Effect.never : Effect.delay(inner.releaseLease(key, owner), state.releaseDelay)
      }),
    get: (key) => Effect.suspend(() => state.readsHang ? Effect.never : inner.get(key)),
    set: (key, token) =>
      Effect.suspend(() =>
        state.setsHang
          ? Effect.flatMap(
            Effect.forkDaemon(Effect.zipRight(Deferred.await(landing), inner.set(key, token))),
            Fiber.join
          )
          : inner.set(key, token)
      ),
    remove: (key, expected) => Effect.suspend(() => state.removesHang ? Effect.never : inner.remove(key, expected))
  })
  /** Lets every hung `set` land. */
  const land = Deferred.succeed(landing, void 0)
  return { store, state, land }
}
