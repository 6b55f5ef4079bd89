/**
 * The "reconnect soon" warning of a `TokenManager`: one timer per key whose refresh token has an
 * expiry, restarted whenever the held token's refresh token expiry changes (a refresh that pushes it
 * out cancels the warning), firing `lead` ahead of the expiry — or half the refresh token's lifetime
 * ahead, when that is shorter, so that short sliding sessions (Keycloak) are not warned about at once.
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import { Event } from "../TokenManagerEvent.js"
import type * as keyState from "./keyState.js"

/** @internal */
export interface ReconnectSoon {
  /** Follows the held token of `state`: call after every change. */
  readonly watch: (state: keyState.KeyState) => Effect.Effect<void>
}

/** @internal */
export const make = (lead: number, events: PubSub.PubSub<Event>): Effect.Effect<ReconnectSoon, never, Scope.Scope> =>
  Effect.map(FiberMap.make<string>(), (timers) => {
    const watched = new Map<string, number>()
    const watch = (state: keyState.KeyState): Effect.Effect<void> =>
      Effect.suspend(() => {
        const token = state.token
        const expiresAt = token?.refreshToken === undefined ? undefined : token.refreshTokenExpiresAt
        if (expiresAt === undefined) {
          if (!watched.delete(state.key)) return Effect.void
          return FiberMap.remove(timers, state.key)
        }
        const at = DateTime.toEpochMillis(expiresAt)
        if (watched.get(state.key) === at) return Effect.void
        watched.set(state.key, at)
        const lifetime = at - DateTime.toEpochMillis(token!.issuedAt)
        const ahead = Math.min(lead, Math.max(0, lifetime / 2))
        const warn = Effect.flatMap(
          Effect.clockWith((clock) => clock.currentTimeMillis),
          (now) => Effect.sleep(Duration.millis(Math.max(0, at - ahead - now)))
        ).pipe(
          Effect.zipRight(
            Effect.suspend(() =>
              watched.get(state.key) === at
                ? PubSub.publish(events, Event.ReconnectSoon({ key: state.key, refreshTokenExpiresAt: expiresAt }))
                : Effect.void
            )
          )
        )
        return Effect.asVoid(FiberMap.run(timers, state.key, warn))
      })
    return { watch }
  })
