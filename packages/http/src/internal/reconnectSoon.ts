/**
 * The "reconnect soon" warning of a `TokenManager`: one timer per key whose refresh token has an
 * expiry, restarted whenever the held token's refresh token expiry changes (a refresh that pushes it
 * out cancels the warning), firing `lead` ahead of the expiry — or half the refresh token's lifetime
 * ahead, when that is shorter, so that short sliding sessions (Keycloak) are not warned about at once.
 * A warned key counts in `tokenfx_refresh_tokens_expiring` until its refresh token expiry changes.
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import { Event } from "../TokenManagerEvent.js"
import type * as keyState from "./keyState.js"
import type * as managerMetrics from "./managerMetrics.js"

/** @internal */
export interface ReconnectSoon {
  /** Follows the held token of `state`: call after every change. */
  readonly watch: (state: keyState.KeyState) => Effect.Effect<void>
}

/** @internal */
export const make = (
  lead: number,
  events: PubSub.PubSub<Event>,
  metrics: managerMetrics.ManagerMetrics
): Effect.Effect<ReconnectSoon, never, Scope.Scope> =>
  Effect.gen(function*() {
    const timers = yield* FiberMap.make<string>()
    const watched = new Map<string, number>()
    // The keys counted in the gauge; the manager's scope closing takes them out.
    const expiring = new Set<string>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        metrics.refreshTokensExpiring.unsafeModify(-expiring.size, [])
        expiring.clear()
      })
    )
    const settle = (key: string): void => {
      if (expiring.delete(key)) metrics.refreshTokensExpiring.unsafeModify(-1, [])
    }
    const warned = (key: string, expiresAt: DateTime.Utc) =>
      Effect.suspend(() => {
        if (!expiring.has(key)) {
          expiring.add(key)
          metrics.refreshTokensExpiring.unsafeModify(1, [])
        }
        return Effect.zipRight(
          Metric.increment(metrics.reconnects("refresh_token_expiring")),
          PubSub.publish(events, Event.ReconnectSoon({ key, refreshTokenExpiresAt: expiresAt }))
        )
      })
    const watch = (state: keyState.KeyState): Effect.Effect<void> =>
      Effect.suspend(() => {
        const token = state.token
        const expiresAt = token?.refreshToken === undefined ? undefined : token.refreshTokenExpiresAt
        if (expiresAt === undefined) {
          settle(state.key)
          if (!watched.delete(state.key)) return Effect.void
          return FiberMap.remove(timers, state.key)
        }
        const at = DateTime.toEpochMillis(expiresAt)
        if (watched.get(state.key) === at) return Effect.void
        settle(state.key)
        watched.set(state.key, at)
        const lifetime = at - DateTime.toEpochMillis(token!.issuedAt)
        const ahead = Math.min(lead, Math.max(0, lifetime / 2))
        const warn = Effect.flatMap(
          Effect.clockWith((clock) => clock.currentTimeMillis),
          (now) => Effect.sleep(Duration.millis(Math.max(0, at - ahead - now)))
        ).pipe(
          Effect.zipRight(
            Effect.suspend(() => watched.get(state.key) === at ? warned(state.key, expiresAt) : Effect.void)
          )
        )
        return Effect.asVoid(FiberMap.run(timers, state.key, warn))
      })
    return { watch }
  })
