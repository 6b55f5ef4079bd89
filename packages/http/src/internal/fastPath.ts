/**
 * A synchronous read of the token a `TokenManager`'s `get` would answer at once, for callers outside
 * Effect (the Promise facade): no fiber, no effect, nothing allocated. Kept beside the service rather
 * than in its shape, so that the public interface is unchanged and a hand-made manager simply has
 * none (its callers go through `get`).
 */
import type * as Token from "@tokenfx/core/Token"

/**
 * The fresh token held for `key`, or `undefined` when `get` would leave its hot path (no token, due,
 * rejected, backing off).
 *
 * @internal
 */
export type Peek = (key: string) => Token.Token | undefined

const peeks = new WeakMap<object, Peek>()

/** @internal */
export const register = <A extends object>(manager: A, peek: Peek): A => {
  peeks.set(manager, peek)
  return manager
}

/** @internal */
export const of = (manager: object): Peek | undefined => peeks.get(manager)
