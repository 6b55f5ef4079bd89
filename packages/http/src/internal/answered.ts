/**
 * How a token source tells the refresh protocol that the server has answered, before what follows the
 * answer (verifying a refreshed ID token, which may fetch a key set). From then on the answer may hold
 * the only copy of a rotated refresh token: nothing may drop it, `refreshTimeout` included.
 */
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"

/** What to run once the server has answered; nothing outside a refresh. @internal */
export const onAnswer: FiberRef.FiberRef<Effect.Effect<void>> = globalValue(
  Symbol.for("@tokenfx/http/internal/answered/onAnswer"),
  () => FiberRef.unsafeMake<Effect.Effect<void>>(Effect.void)
)

/** Signals that the server has answered. @internal */
export const signal: Effect.Effect<void> = Effect.flatten(FiberRef.get(onAnswer))
