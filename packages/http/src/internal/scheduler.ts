/**
 * Background refresh for any number of keys with one fiber: a queue ordered by refresh instant, and a
 * fiber that sleeps until the earliest one (woken when an earlier one arrives). Due refreshes run in
 * fibers forked from the manager's scope, never from a caller's context, with bounded concurrency.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"
import { sleepUntil } from "./sleepUntil.js"

/** @internal */
export interface Entry<K> {
  readonly at: number
  readonly target: K
  readonly lead: number
}

/** @internal */
export interface Scheduler<K> {
  /** Queues a run of `target` at `at`; a target whose newer entry supersedes this one is skipped by `live`. */
  readonly schedule: (entry: Entry<K>) => void
  readonly size: () => number
}

// A binary min-heap on `at`.
const push = <K>(heap: Array<Entry<K>>, entry: Entry<K>): void => {
  heap.push(entry)
  let i = heap.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (heap[parent]!.at <= entry.at) break
    heap[i] = heap[parent]!
    i = parent
  }
  heap[i] = entry
}

const pop = <K>(heap: Array<Entry<K>>): Entry<K> | undefined => {
  const top = heap[0]
  const last = heap.pop()
  if (top === undefined || last === undefined || heap.length === 0) return top
  let i = 0
  const n = heap.length
  while (true) {
    const left = 2 * i + 1
    if (left >= n) break
    const right = left + 1
    const child = right < n && heap[right]!.at < heap[left]!.at ? right : left
    if (heap[child]!.at >= last.at) break
    heap[i] = heap[child]!
    i = child
  }
  heap[i] = last
  return top
}

/**
 * `live(entry)`: whether the entry is still the current one for its target (otherwise it is dropped).
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
    const heap: Array<Entry<K>> = []
    let wakeAt = Infinity
    let wake = Deferred.unsafeMake<void>(FiberId.none)
    const semaphore = yield* Effect.makeSemaphore(Math.max(1, options.concurrency))

    const schedule = (entry: Entry<K>): void => {
      push(heap, entry)
      if (entry.at < wakeAt) {
        wakeAt = entry.at
        Deferred.unsafeDone(wake, Exit.void)
      }
    }

    const loop = Effect.gen(function*() {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        while (heap.length > 0 && heap[0]!.at <= now) {
          const entry = pop(heap)!
          if (!options.live(entry)) continue
          yield* Effect.forkIn(semaphore.withPermits(1)(options.run(entry)), options.scope)
        }
        wake = Deferred.unsafeMake<void>(FiberId.none)
        const next = heap[0]
        wakeAt = next === undefined ? Infinity : next.at
        yield* next === undefined
          ? Deferred.await(wake)
          : Effect.raceFirst(sleepUntil(now, next.at), Deferred.await(wake))
      }
    })
    yield* Effect.forkScoped(loop)
    return { schedule, size: () => heap.length }
  })
