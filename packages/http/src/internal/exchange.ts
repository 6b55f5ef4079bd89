/**
 * The exchange of a refresh under the lease: the source asked for a new token, then that token written
 * back. Until the server answers, the exchange ends with its caller (`refreshTimeout`, a lost lease).
 * From the answer on (the source's signal, given before an ID token is verified, else its return) it may
 * hold the only copy of a rotated refresh token: it runs on in a fiber of its own, owns the lease, and
 * its caller waits for it. The manager's end waits for an exchange under way, answered or not (its
 * refresh token is sent), within its grace; once the manager is ending, none starts.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as answered from "./answered.js"
import type * as shutdown from "./shutdown.js"

/**
 * A refresh under the lease: its caller's deadline (epoch milliseconds), whether the server has
 * answered, and whether the exchange took the lease over.
 *
 * @internal
 */
export interface Section {
  readonly deadline: number
  answered: boolean
  handedOff: boolean
}

/** @internal */
export const run = <T, A, E1, E2>(options: {
  readonly key: string
  readonly shutdown: shutdown.Shutdown
  readonly section: Section
  readonly ask: Effect.Effect<T, E1>
  /** Writes the answer back; lets the lease go itself. */
  readonly write: (answer: T) => Effect.Effect<A, E2>
  readonly release: Effect.Effect<void>
}): Effect.Effect<A, E1 | E2> =>
  Effect.suspend(() => {
    const { section } = options
    if (options.shutdown.closing()) return Effect.interrupt
    const answer = Deferred.unsafeMake<void>(FiberId.none)
    const onAnswer = Effect.sync(() => {
      section.answered = true
      section.handedOff = true
      Deferred.unsafeDone(answer, Exit.void)
    })
    let writing = false
    const exchange = Effect.locally(options.ask, answered.onAnswer, onAnswer).pipe(
      Effect.tap(() => onAnswer),
      Effect.flatMap((token) => {
        writing = true
        return options.write(token)
      }),
      // Answered, then ended before the write (the manager's end): the lease is let go here.
      Effect.onExit(() => section.handedOff && !writing ? options.release : Effect.void),
      Effect.interruptible
    )
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(options.shutdown.fork(options.key, exchange, () => section.answered), (fiber) =>
        restore(Effect.raceFirst(Deferred.await(answer), Fiber.await(fiber))).pipe(
          // Interrupted as the answer lands (a lease lost, refreshTimeout), before the race above saw it:
          // wait for the exchange as after it, or the next flight reads the consumed refresh token.
          Effect.onInterrupt(() =>
            section.answered ? Fiber.await(fiber) : Fiber.interrupt(fiber)
          ),
          Effect.zipRight(Fiber.join(fiber))
        ))
    )
  })
