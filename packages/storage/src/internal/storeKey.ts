import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Effect from "effect/Effect"
import type * as RawTokenStore from "../RawTokenStore.js"

// A lone surrogate: with the `u` flag a surrogate pair is one code point, never in `Cs`.
const loneSurrogate = /\p{Cs}/u

/**
 * Whether a key is well-formed UTF-16 (`String.prototype.isWellFormed`, which ES2022 lacks).
 *
 * @internal
 */
export const isWellFormed = (key: string): boolean => !loneSurrogate.test(key)

const refuse = (operation: string, key: string) =>
  new TokenStore.TokenStoreError({
    operation,
    key,
    description: "the key is not well-formed UTF-16 (it holds a lone surrogate), which this store cannot keep apart"
  })

/**
 * The store, refusing keys that are not well-formed UTF-16 before they reach a back-end that encodes
 * them as UTF-8: there every lone surrogate becomes U+FFFD, so `"a\uD800"` and `"a\uDBFF"` would be
 * one key (PostgreSQL), or a call would throw (`encodeURIComponent`).
 *
 * @internal
 */
export const requireWellFormed = (store: RawTokenStore.RawTokenStore["Type"]): RawTokenStore.RawTokenStore["Type"] => {
  const checked = <Args extends [string, ...Array<any>], A, E>(
    operation: string,
    f: (...args: Args) => Effect.Effect<A, E>
  ) =>
  (...args: Args): Effect.Effect<A, E | TokenStore.TokenStoreError> =>
    isWellFormed(args[0]) ? f(...args) : Effect.fail(refuse(operation, args[0]))
  return {
    ...store,
    get: checked("get", store.get),
    set: checked("set", store.set),
    compareAndSet: checked("compareAndSet", store.compareAndSet),
    remove: checked("remove", store.remove),
    quarantine: checked("quarantine", store.quarantine),
    acquireLease: checked("acquireLease", store.acquireLease),
    renewLease: checked("renewLease", store.renewLease),
    releaseLease: checked("releaseLease", store.releaseLease),
    head: store.head && checked("head", store.head),
    compareAndSetRemoved: store.compareAndSetRemoved && checked("compareAndSetRemoved", store.compareAndSetRemoved)
  }
}
