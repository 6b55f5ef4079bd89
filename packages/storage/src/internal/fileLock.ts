import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Os from "node:os"
import * as Process from "node:process"
import * as WorkerThreads from "node:worker_threads"
import { isAlreadyExists, isNotFound, randomHex } from "./atomicFile.js"

/**
 * Who holds a lock file: a process (and thread) on a host.
 *
 * @internal
 */
export interface Identity {
  readonly pid: number
  readonly host: string
  readonly thread: number
}

let identity: Identity | undefined

/** @internal */
export const self = (): Identity => {
  if (identity === undefined) {
    identity = { pid: Process.pid, host: Os.hostname(), thread: WorkerThreads.threadId }
  }
  return identity
}

/**
 * The effective user id of this process, where the platform has one (not on Windows).
 *
 * @internal
 */
export const effectiveUid = (): number | undefined => Process.geteuid?.()

/**
 * Whether the holder is still running: known on this host (`kill(pid, 0)`), `undefined` on another.
 *
 * @internal
 */
export const isAlive = (holder: Identity): boolean | undefined => {
  const me = self()
  if (holder.host !== me.host) return undefined
  if (holder.pid === me.pid) return true
  if (!Number.isSafeInteger(holder.pid) || holder.pid <= 0) return false
  try {
    Process.kill(holder.pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as { readonly code?: unknown }).code === "EPERM"
  }
}

interface Holder extends Identity {
  readonly nonce: string
  readonly at: number
}

const parseHolder = (content: string): Holder | undefined => {
  try {
    const u = JSON.parse(content)
    return typeof u === "object" && u !== null && typeof u.pid === "number" && typeof u.host === "string" &&
        typeof u.thread === "number" && typeof u.nonce === "string" && typeof u.at === "number"
      ? u
      : undefined
  } catch {
    return undefined
  }
}

// The nonces of the lock files this thread holds: a lock file naming this very thread but a nonce
// not in here was left by an earlier process that had the same pid (a restarted container).
const held = new Set<string>()

/** @internal */
export class LockTimeout extends Data.TaggedError("LockTimeout")<{
  readonly holder: Identity | undefined
}> {}

/** @internal */
export interface LockOptions {
  readonly timeout: number
  readonly staleAfter: number
}

// A lock is held for a few file operations, never for long: one older than `staleAfter` (or dated
// in the future beyond it) is abandoned whatever pid it names, since after a crash that pid may
// belong to an unrelated live process. A lock this thread holds is never stale.
const isStale = (holder: Holder | undefined, now: number, options: LockOptions): boolean => {
  if (holder === undefined) return true
  if (held.has(holder.nonce)) return false
  if (!Number.isFinite(holder.at) || Math.abs(now - holder.at) > options.staleAfter) return true
  const me = self()
  if (holder.host === me.host && holder.pid === me.pid) return holder.thread === me.thread
  return isAlive(holder) === false
}

const readOption = (fs: FileSystem.FileSystem, path: string) =>
  fs.readFileString(path).pipe(
    Effect.map(Option.some),
    Effect.catchIf(isNotFound, () => Effect.succeedNone)
  )

const tryLink = (fs: FileSystem.FileSystem, from: string, to: string) =>
  fs.link(from, to).pipe(
    Effect.as(true),
    Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
  )

const backoff = (attempt: number) =>
  Effect.flatMap(
    Random.nextIntBetween(1, Math.min(50, 2 ** Math.min(attempt, 6)) + 1),
    (millis) => Effect.sleep(millis)
  )

// A stale lock is removed by whoever first creates `<lock>.break`, and only if it still holds what
// was judged stale, so that two breakers never remove a lock a third process just took.
const breakStale = (
  fs: FileSystem.FileSystem,
  path: string,
  seen: string,
  temp: string,
  options: LockOptions
): Effect.Effect<void, PlatformError.PlatformError> =>
  Effect.gen(function*() {
    const breaker = `${path}.break`
    if (yield* tryLink(fs, temp, breaker)) {
      const current = yield* readOption(fs, path)
      if (Option.isSome(current) && current.value === seen) {
        yield* fs.remove(path).pipe(Effect.catchIf(isNotFound, () => Effect.void))
      }
      yield* fs.remove(breaker).pipe(Effect.catchIf(isNotFound, () => Effect.void))
      return
    }
    const other = yield* readOption(fs, breaker)
    const now = yield* Clock.currentTimeMillis
    if (Option.isSome(other) && isStale(parseHolder(other.value), now, options)) {
      yield* fs.remove(breaker).pipe(Effect.catchIf(isNotFound, () => Effect.void))
    } else {
      yield* backoff(0)
    }
  })

/**
 * Runs `use` holding the lock file at `path`. The lock file is created exclusively with its content
 * already in place (written to a temporary file, then hard-linked to `path`, which fails when `path`
 * exists), so a reader never sees it empty. It names the holder's pid, host and thread; a lock whose
 * holder died (on this host), or older than `staleAfter` (whoever it names), is broken.
 *
 * @internal
 */
export const withLock = <A, E, R>(
  fs: FileSystem.FileSystem,
  path: string,
  options: LockOptions,
  use: Effect.Effect<A, E, R>
): Effect.Effect<A, E | PlatformError.PlatformError | LockTimeout, R> => {
  const release = (nonce: string) =>
    readOption(fs, path).pipe(
      Effect.flatMap((current) =>
        Option.isSome(current) && parseHolder(current.value)?.nonce === nonce ? fs.remove(path) : Effect.void
      ),
      // A lock left behind names this thread and a nonce no longer held: the next taker breaks it.
      Effect.ignore,
      Effect.ensuring(Effect.sync(() => held.delete(nonce)))
    )

  // Interruptible while it waits; interrupted (or failed) after taking the lock, it gives it back.
  const acquire = Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const nonce = randomHex(16)
    const temp = `${path}.tmp-${randomHex(8)}`
    const content = JSON.stringify({ ...self(), nonce, at: start })
    const loop = Effect.gen(function*() {
      for (let attempt = 0;; attempt++) {
        if (yield* tryLink(fs, temp, path)) return nonce
        const current = yield* readOption(fs, path)
        if (Option.isNone(current)) continue
        const holder = parseHolder(current.value)
        const now = yield* Clock.currentTimeMillis
        if (now - start >= options.timeout) {
          return yield* new LockTimeout({ holder })
        } else if (isStale(holder, now, options)) {
          yield* breakStale(fs, path, current.value, temp, options)
        } else {
          yield* backoff(attempt)
        }
      }
    })
    return yield* Effect.acquireUseRelease(
      fs.writeFileString(temp, content, { flag: "wx", mode: 0o600 }).pipe(
        // While breaking, the temporary file doubles as the breaker: it must read as held.
        Effect.zipRight(Effect.sync(() => held.add(nonce)))
      ),
      () => Effect.interruptible(loop).pipe(Effect.onError(() => release(nonce))),
      () => fs.remove(temp).pipe(Effect.ignore)
    )
  })

  // Fibers of this process queue on a semaphore rather than polling the file.
  return semaphore(path).withPermits(1)(Effect.acquireUseRelease(acquire, () => use, release))
}

const semaphores = new Map<string, Effect.Semaphore>()

const semaphore = (path: string): Effect.Semaphore => {
  let sem = semaphores.get(path)
  if (sem === undefined) {
    sem = Effect.unsafeMakeSemaphore(1)
    semaphores.set(path, sem)
  }
  return sem
}
