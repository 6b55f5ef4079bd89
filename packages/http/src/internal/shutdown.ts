/**
 * The manager's end. The work it must not cut short runs here, outside any caller: an exchange under
 * way (its refresh token sent, the server may have rotated it already; once answered, its write may
 * hold the only copy of the new one) and a write retried in the background. At the end no new exchange
 * starts; those under way are waited for up to the grace, and what still runs then is interrupted with
 * an error log naming its key.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/** @internal */
export interface Shutdown {
  /** Where flights run: it closes once the exchanges under way are done or given up. */
  readonly flights: Scope.Scope
  /** Whether the manager is ending: no refresh token may be presented any more. */
  readonly closing: () => boolean
  /**
   * Forks `self` outside any caller, to be waited for at the manager's end within the grace. `answered`
   * says whether the server has answered (what is lost if it is given up).
   */
  readonly fork: <A, E>(
    key: string,
    self: Effect.Effect<A, E>,
    answered: () => boolean
  ) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
}

interface Running {
  readonly key: string
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly answered: () => boolean
}

const lost = {
  answered: "TokenManager: closed before a refreshed token was stored; it is lost, and the key may have to reconnect",
  unanswered: "TokenManager: closed before the server answered a refresh; if it rotated the refresh token, the key " +
    "may have to reconnect"
}

/**
 * The shutdown of a manager that lives in `scope`, with the scope its flights run in. Made after the
 * lease, so that it ends before it (the scope's finalizers run in reverse): the exchanges under way are
 * waited for first, then the flights are ended, then the lease releases they made are waited for.
 *
 * @internal
 */
export const make = (scope: Scope.Scope, grace: Duration.Duration) =>
  Effect.gen(function*() {
    const flights = yield* Scope.fork(scope, ExecutionStrategy.sequential)
    const running = new Set<Running>()
    let closing = false
    let ended = false

    const fork: Shutdown["fork"] = (key, self, answered) =>
      Effect.uninterruptible(Effect.suspend(() =>
        ended ? Effect.interrupt : Effect.map(Effect.forkDaemon(self), (fiber) => {
          const entry: Running = { key, fiber, answered }
          running.add(entry)
          fiber.addObserver(() => running.delete(entry))
          return fiber
        })
      ))

    const fibers = () =>
      Array.from(running, (entry) => entry.fiber)
    // Until nothing runs: a write that fails at the end hands over to one retried in the background.
    const settle: Effect.Effect<void> = Effect.suspend(() =>
      running.size === 0 ? Effect.void : Effect.zipRight(Fiber.awaitAll(fibers()), settle)
    )
    const stop: Effect.Effect<void> = Effect.suspend(() =>
      running.size === 0 ? Effect.void : Effect.zipRight(Fiber.interruptAll(fibers()), stop)
    )

    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        closing = true
        yield* settle.pipe(Effect.interruptible, Effect.timeout(grace), Effect.ignore)
        const left = new Map<string, boolean>()
        for (const entry of running) left.set(entry.key, left.get(entry.key) === true || entry.answered())
        for (const [key, answered] of left) {
          yield* Effect.logError(answered ? lost.answered : lost.unanswered).pipe(Effect.annotateLogs({ key }))
        }
      }).pipe(
        // Even when the wait itself is interrupted (a second signal): nothing outlives the manager, not
        // even a write an exchange handed over to as it was interrupted.
        Effect.ensuring(Effect.suspend(() => {
          ended = true
          return stop
        }))
      )
    )

    return { closing: () => closing, fork, flights }
  })
