/**
 * Store calls a token manager makes (its refresh protocol, `set`, `revoke`), each given a bound: a call
 * that has not answered by then (a stuck connection) is taken for a failed one, so that no caller, lease
 * or write waits on the store forever.
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/** A store operation that has not answered after this long is taken for a stuck connection. @internal */
export const attemptTimeout = Duration.seconds(10)

/**
 * `self`, failed with a `TokenStoreError` past `duration`. Interruptible even where it runs (a
 * finalizer), and disconnected: a call that cannot be interrupted (a driver acquiring its connection
 * uninterruptibly) is left to end in the background, so that the bound holds there too.
 *
 * @internal
 */
export const within = <A>(
  operation: string,
  key: string,
  duration: Duration.DurationInput,
  self: Effect.Effect<A, TokenStore.StoreError>
): Effect.Effect<A, TokenStore.StoreError> =>
  Effect.timeoutFail(Effect.disconnect(Effect.interruptible(self)), {
    duration,
    onTimeout: () =>
      new TokenStore.TokenStoreError({
        operation,
        key,
        description: `no answer within ${Duration.format(Duration.decode(duration))}`
      })
  })
