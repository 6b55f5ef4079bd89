/**
 * Disconnecting a key (`TokenManager.revoke`): its token, the stored one else the one held, revoked at
 * the server where the source can, then forgotten and removed from the store whatever the server said.
 * The store calls are bounded; a store failure is raised after the server's answer has been told.
 */
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { Event, revocationReason } from "../TokenManagerEvent.js"
import { Revocation, type RevokeOptions } from "../TokenManagerRevocation.js"
import type * as TokenSource from "../TokenSource.js"
import * as keyState from "./keyState.js"
import type { ManagerMetrics } from "./managerMetrics.js"
import { attemptTimeout, within } from "./storeBound.js"

/** @internal */
export interface Env {
  readonly store: TokenStore.TokenStore["Type"]
  readonly source: TokenSource.TokenSource["Type"]
  /** The key's state, when the manager holds one. */
  readonly state: (key: string) => keyState.KeyState | undefined
  readonly changed: (state: keyState.KeyState) => Effect.Effect<void>
  readonly publish: (event: Event) => Effect.Effect<unknown>
  readonly metrics: ManagerMetrics
}

/** @internal */
export const make = (env: Env) => {
  const { source, store } = env
  return (key: string, options?: RevokeOptions): Effect.Effect<Revocation, TokenStore.StoreError> =>
    Effect.gen(function*() {
      const reason = revocationReason(options?.reason)
      yield* Effect.annotateCurrentSpan("tokenfx.revocation.reason", reason)
      // Unanswered like failed: the token held in memory is revoked instead, and the error raised at the end.
      const stored = yield* Effect.either(within("get", key, attemptTimeout, store.get(key)))
      const state = env.state(key)
      const token = Either.isRight(stored) && Option.isSome(stored.right) ? stored.right.value.token : state?.token
      const atServer = token === undefined
        ? Revocation.NoToken()
        : yield* source.revoke(token).pipe(
          Effect.map((skipped) => Option.isSome(skipped) ? Revocation.Unsupported() : Revocation.Revoked()),
          Effect.catchAll((error) => Effect.succeed(Revocation.Failed({ error })))
        )
      // Locally, whatever the server said: a disconnect disconnects.
      if (state !== undefined) {
        keyState.clear(state)
        state.dead = false
        state.rejected = undefined
        yield* env.changed(state)
      }
      const removed = yield* Effect.either(within("remove", key, attemptTimeout, store.remove(key)))
      // What the server did is told whatever the store does: a store failure must not hide it.
      if (token !== undefined) {
        yield* Metric.increment(env.metrics.revocations(reason))
        yield* env.publish(Event.Revoked({ key, atServer: atServer._tag === "Revoked", reason }))
      }
      // The removal's failure first: the token may still be stored.
      const failure = Either.isLeft(removed) ? removed.left : Either.isLeft(stored) ? stored.left : undefined
      if (failure === undefined) return atServer
      yield* Effect.logWarning("TokenManager: revoke could not read or remove the stored token").pipe(
        Effect.annotateLogs({ key, error: failure._tag, atServer: atServer._tag })
      )
      return yield* Effect.fail(failure)
    }).pipe(Effect.withSpan("TokenManager.revoke", { attributes: { "tokenfx.key": key } }))
}
