/**
 * Background refresh of a manager's keys: each key with a refresh instant has one entry in a scheduler,
 * due that instant less a random lead within the refresh window (so that keys issued together do not
 * all refresh at once). A token change replaces the key's entry; a released key's leaves the queue. A
 * deferral or a backoff is due at its own instant, and after a failed refresh of an expired token the
 * entry is due when the failure's backoff ends. An entry that joins a refresh already running is not
 * used up by it.
 */
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as keyState from "./keyState.js"
import * as scheduler from "./scheduler.js"

/** @internal */
export interface BackgroundRefresh {
  /** Schedules `state` anew after a change (or stops scheduling it once it has nothing to refresh). */
  readonly follow: (state: keyState.KeyState) => Effect.Effect<void>
  /** Stops scheduling `state` (released). */
  readonly drop: (state: keyState.KeyState) => void
}

/**
 * `jitter`: the largest lead, as a fraction of the token's refresh window (by `timing`). `held(state)`:
 * whether `state` is still its key's (a released state is never refreshed). `refresh(state, lead)`: the
 * refresh itself, its failures the protocol's to report.
 *
 * @internal
 */
export const make = (options: {
  readonly jitter: number
  readonly timing: keyState.Timing
  readonly concurrency: number
  readonly held: (state: keyState.KeyState) => boolean
  readonly refresh: (state: keyState.KeyState, lead: number) => Effect.Effect<unknown, unknown>
  readonly scope: Scope.Scope
}): Effect.Effect<BackgroundRefresh, never, Scope.Scope> =>
  Effect.gen(function*() {
    // The key's current entry: an older one is taken out of the queue.
    const scheduled = new WeakMap<keyState.KeyState, scheduler.Entry<keyState.KeyState>>()
    const queue = yield* scheduler.make<keyState.KeyState>({
      live: (entry) => scheduled.get(entry.target) === entry && options.held(entry.target),
      run: (entry) => {
        const state = entry.target
        // Due while a refresh of the key runs, the entry joins it; that refresh may end without
        // scheduling the key again (a caller's look at the store during a backoff), which would use the
        // entry up for good. So once it ends, the key is followed again, unless something did already.
        if (state.flight === undefined) return Effect.ignore(options.refresh(state, entry.lead))
        return Effect.zipRight(
          Effect.exit(options.refresh(state, entry.lead)),
          Effect.suspend(() => scheduled.get(state) === entry && options.held(state) ? follow(state) : Effect.void)
        )
      },
      concurrency: options.concurrency,
      scope: options.scope
    })
    // The key's entry leaves the queue as the one replacing it goes in, not before: should the effect
    // that makes the new one not run, the old entry still refreshes the key.
    const supersede = (state: keyState.KeyState, entry: scheduler.Entry<keyState.KeyState> | undefined): void => {
      const superseded = scheduled.get(state)
      if (superseded !== undefined) queue.cancel(superseded)
      if (entry === undefined) {
        scheduled.delete(state)
      } else {
        scheduled.set(state, entry)
        queue.schedule(entry)
      }
    }
    const follow = (state: keyState.KeyState): Effect.Effect<void> => {
      const token = state.token
      if (token === undefined) {
        supersede(state, undefined)
        return Effect.void
      }
      // A failed refresh of an expired token leaves `refreshAt` in the past (the hot path has nothing to
      // serve) and a failure callers are answered until `until`: the next try is then, with no lead (there
      // is nothing left to be early for).
      const failure = state.failure
      if (failure !== undefined) {
        supersede(state, { at: failure.until, target: state, lead: 0, slot: -1 })
        return Effect.void
      }
      if (!Number.isFinite(state.refreshAt)) {
        supersede(state, undefined)
        return Effect.void
      }
      // A busy lease's deferral or a backoff moved `refreshAt` to an instant counted from now: due then,
      // never earlier (a lead drawn against it ran at once, found the lease busy again, and looped). The
      // lead drawn for the token is kept, so the retry still wants a token fresh that far ahead.
      const due = keyState.dueAt(token, options.timing)
      if (state.refreshAt !== due) {
        supersede(state, { at: state.refreshAt, target: state, lead: scheduled.get(state)?.lead ?? 0, slot: -1 })
        return Effect.void
      }
      // A token just installed: the lead is drawn from its own refresh window.
      return Effect.map(Random.next, (random) => {
        const lead = Math.floor(random * options.jitter * Math.max(0, state.expiredAt - due))
        supersede(state, { at: due - lead, target: state, lead, slot: -1 })
      })
    }
    return { follow, drop: (state) => supersede(state, undefined) }
  })
