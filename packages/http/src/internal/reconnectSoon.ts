/**
 * The "reconnect soon" warning of a `TokenManager`: per key whose refresh token has an expiry, a warning
 * due `lead` ahead of it — or half the refresh token's lifetime ahead, when that is shorter, so that short
 * sliding sessions (Keycloak) are not warned about at once — moved whenever the held token's refresh
 * token expiry changes (a refresh that pushes it out cancels the warning). One alarm fiber serves every
 * key. A warned key counts in `tokenfx_refresh_tokens_expiring` until its refresh token expiry changes.
 * A released key is still warned and counted (an idle user is the one to ask to reconnect), and forgotten
 * once its refresh token has expired; a held one is counted while held.
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import { Event } from "../TokenManagerEvent.js"
import * as alarm from "./alarm.js"
import { Heap } from "./heap.js"
import type * as keyState from "./keyState.js"
import type * as managerMetrics from "./managerMetrics.js"

/** @internal */
export interface ReconnectSoon {
  /** Follows the held token of `state`: call after every change. */
  readonly watch: (state: keyState.KeyState) => Effect.Effect<void>
  /** `key`'s state was released: nothing of it outlives its refresh token. */
  readonly forget: (key: string) => void
  /** How many keys are watched (held, or released with a warning to come). */
  readonly size: () => number
}

interface Watched {
  readonly key: string
  readonly expiresAt: DateTime.Utc
  /** The refresh token's expiry, in milliseconds. */
  readonly at: number
  /** The warning's instant, then (once given) the refresh token's expiry: the heap orders by it. */
  due: number
  warned: boolean
  held: boolean
  slot: number
}

/** @internal */
export const make = (
  lead: number,
  events: PubSub.PubSub<Event>,
  metrics: managerMetrics.ManagerMetrics
): Effect.Effect<ReconnectSoon, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const watched = new Map<string, Watched>()
    const queue = new Heap<Watched>({
      at: (entry) => entry.due,
      get: (entry) => entry.slot,
      set: (entry, slot) => {
        entry.slot = slot
      }
    })
    // The keys counted in the gauge; the manager's scope closing takes them out.
    const expiring = new Set<string>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        metrics.refreshTokensExpiring.unsafeModify(-expiring.size, [])
        expiring.clear()
      })
    )
    const count = (key: string): void => {
      if (!expiring.has(key)) {
        expiring.add(key)
        metrics.refreshTokensExpiring.unsafeModify(1, [])
      }
    }
    const settle = (key: string): void => {
      if (expiring.delete(key)) metrics.refreshTokensExpiring.unsafeModify(-1, [])
    }
    const warn = (entry: Watched) =>
      Effect.suspend(() => {
        count(entry.key)
        return Effect.zipRight(
          Metric.increment(metrics.reconnects("refresh_token_expiring")),
          PubSub.publish(events, Event.ReconnectSoon({ key: entry.key, refreshTokenExpiresAt: entry.expiresAt }))
        )
      })
    const unwatch = (key: string): void => {
      settle(key)
      const entry = watched.get(key)
      if (entry === undefined) return
      queue.remove(entry)
      watched.delete(key)
    }
    const { wake } = yield* alarm.make({
      fire: (now) =>
        Effect.gen(function*() {
          let entry: Watched | undefined
          while ((entry = queue.peek()) !== undefined && entry.due <= now) {
            queue.remove(entry)
            if (!entry.warned) {
              entry.warned = true
              yield* warn(entry)
              // Kept until the refresh token expires, so that the key, loaded again, is not warned twice.
              entry.due = entry.at
              if (entry.at > now) {
                queue.update(entry)
                continue
              }
            }
            // Its refresh token has expired: a released key is forgotten, a held one stays while held.
            if (!entry.held) unwatch(entry.key)
          }
        }),
      next: () => queue.peek()?.due ?? Infinity
    })
    const watch = (state: keyState.KeyState): Effect.Effect<void> =>
      Effect.sync(() => {
        const token = state.token
        const expiresAt = token?.refreshToken === undefined ? undefined : token.refreshTokenExpiresAt
        if (expiresAt === undefined) return unwatch(state.key)
        const at = DateTime.toEpochMillis(expiresAt)
        const current = watched.get(state.key)
        if (current !== undefined && current.at === at) {
          // Unchanged, or loaded again after a release (not warned twice).
          current.held = true
          return
        }
        unwatch(state.key)
        const lifetime = at - DateTime.toEpochMillis(token!.issuedAt)
        const ahead = Math.min(lead, Math.max(0, lifetime / 2))
        const entry: Watched = { key: state.key, expiresAt, at, due: at - ahead, warned: false, held: true, slot: -1 }
        watched.set(state.key, entry)
        // Expired already (loaded after it was warned and forgotten, or in a new process): too late to
        // warn, its refresh ends in `ReconnectRequired`; counted while its access token is served.
        if (at <= clock.unsafeCurrentTimeMillis()) {
          entry.warned = true
          count(state.key)
          return
        }
        queue.update(entry)
        wake(entry.due)
      })
    const forget = (key: string): void => {
      const entry = watched.get(key)
      if (entry === undefined) return
      entry.held = false
      // Out of the queue: warned, and its refresh token expired since.
      if (entry.slot < 0) unwatch(key)
    }
    return { watch, forget, size: () => watched.size }
  })
