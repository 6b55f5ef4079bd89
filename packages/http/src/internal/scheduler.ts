/**
 * Background refresh for any number of keys with one fiber: a queue ordered by refresh instant, and an
 * alarm that sleeps until the earliest one (woken when an earlier one arrives). Due refreshes run in
 * fibers forked from the manager's scope, never from a caller's context, with bounded concurrency.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as alarm from "./alarm.js"
import { Heap } from "./heap.js"

/** @internal */
export interface Entry<K> {
  readonly at: number
  readonly target: K
  readonly lead: number
  /** The entry's place in the queue: `-1` when made. */
  slot: number
}

/** @internal */
export interface Scheduler<K> {
  /** Queues a run of `target` at `at`; a target whose newer entry supersedes this one is skipped by `live`. */
  readonly schedule: (entry: Entry<K>) => void
  /** Takes a superseded entry out of the queue now, rather than when it comes due. */
  readonly cancel: (entry: Entry<K>) => void
  readonly size: () => number
}

/**
 * `live(entry)`: whether the entry is still the current one for its target (otherwise it is dropped),
 * asked when it is due and again when a permit lets it run.
 * `run(entry)`: the work, whose failures are the caller's to report.
 *
 * @internal
 */
export const make = <K>(options: {
  readonly live: (entry: Entry<K>) => boolean
  readonly run: (entry: Entry<K>) => Effect.Effect<void>
  readonly concurrency: number
  readonly scope: Scope.Scope
}): Effect.Effect<Scheduler<K>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const heap = new Heap<Entry<K>>({
      at: (entry) => entry.at,
      get: (entry) => entry.slot,
      set: (entry, slot) => {
        entry.slot = slot
      }
    })
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.concurrency))
    const { wake } = yield* alarm.make({
      fire: (now) =>
        Effect.gen(function*() {
          let entry: Entry<K> | undefined
          while ((entry = heap.peek()) !== undefined && entry.at <= now) {
            heap.remove(entry)
            if (!options.live(entry)) continue
            // Asked again under the permit: waiting for it, the entry may have been superseded or its
            // target released.
            const due = entry
            const run = Effect.suspend(() => options.live(due) ? options.run(due) : Effect.void)
            yield* Effect.forkIn(semaphore.withPermits(1)(run), options.scope)
          }
        }),
      next: () => heap.peek()?.at ?? Infinity
    })
    const schedule = (entry: Entry<K>): void => {
      heap.update(entry)
      wake(entry.at)
    }
    return { schedule, cancel: (entry) => heap.remove(entry), size: () => heap.size }
  })
