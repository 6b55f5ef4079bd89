/**
 * The manager's end. The work it must not cut short runs here, outside any caller: an exchange the
 * server has answered (its write may hold the only copy of a rotated refresh token) and a write retried
 * in the background. At the end, an exchange the server has not answered is interrupted at once and no
 * new one starts; the rest is waited for up to the grace, and what still runs then is interrupted with
 * an error log naming its key.
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/** @internal */
export interface Shutdown {
  /** Where flights run: it closes once the answered exchanges are done or given up. */
  readonly flights: Scope.Scope
  /** Whether the manager is ending: no refresh token may be presented any more. */
  readonly closing: () => boolean
  /**
   * Forks `self` outside any caller. At the manager's end it is waited for while `durable()` holds,
   * within the grace, and interrupted at once otherwise.
   */
  readonly fork: <A, E>(
    key: string,
    self: Effect.Effect<A, E>,
    durable: () => boolean
  ) => Effect.Effect<Fiber.RuntimeFiber<A, E>>
}

interface Running {
  readonly key: string
  readonly fiber: Fiber.RuntimeFiber<unknown, unknown>
  readonly durable: () => boolean
}

/**
 * The shutdown of a manager that lives in `scope`, with the scope its flights run in. Made after the
 * lease, so that it ends before it (the scope's finalizers run in reverse): the answered exchanges are
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

    const fork: Shutdown["fork"] = (key, self, durable) =>
      Effect.uninterruptible(Effect.suspend(() =>
        ended ? Effect.interrupt : Effect.map(Effect.forkDaemon(self), (fiber) => {
          const entry: Running = { key, fiber, durable }
          running.add(entry)
          fiber.addObserver(() => running.delete(entry))
          return fiber
        })
      ))

    const durable = () =>
      Array.from(running).filter((entry) => entry.durable())
    // Until nothing durable runs: a write that fails at the end hands over to one retried in the background.
    const settle: Effect.Effect<void> = Effect.suspend(() => {
      const left = durable()
      return left.length === 0 ? Effect.void : Effect.zipRight(Fiber.awaitAll(left.map((_) => _.fiber)), settle)
    })

    const stop: Effect.Effect<void> = Effect.suspend(() =>
      running.size === 0 ? Effect.void : Effect.zipRight(Fiber.interruptAll(Array.from(running, (_) => _.fiber)), stop)
    )

    yield* Scope.addFinalizer(
      scope,
      Effect.gen(function*() {
        closing = true
        const unanswered = Array.from(running).filter((entry) => !entry.durable())
        yield* Fiber.interruptAll(unanswered.map((_) => _.fiber))
        yield* settle.pipe(Effect.interruptible, Effect.timeout(grace), Effect.ignore)
        for (const key of new Set(durable().map((_) => _.key))) {
          yield* Effect.logError(
            "TokenManager: closed before a refreshed token was stored; it is lost, and the key may have to reconnect"
          ).pipe(Effect.annotateLogs({ key }))
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
