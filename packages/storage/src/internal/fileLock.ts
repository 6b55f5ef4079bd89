import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as RcMap from "effect/RcMap"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Os from "node:os"
import * as Process from "node:process"
import * as WorkerThreads from "node:worker_threads"
import { isAlreadyExists, isNotFound, randomHex, readWithMode } from "./atomicFile.js"

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
}> {
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
}

// Another holder has the lock file: try again after the schedule's wait.
class Busy extends Data.TaggedError("Busy") {}

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

/**
 * Something at a lock, breaker or lease path that is not a regular file (a FIFO, a symbolic link, a
 * directory). The store never makes one, so it is refused and left where it is, as at a token path:
 * taking it for an abandoned lock (or no lease) would grant the lock or the lease on a guess.
 *
 * @internal
 */
export class Refused extends Data.TaggedError("Refused")<{
  readonly path: string
  readonly reason: string
}> {
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message() {
    return `${this.path} is refused: ${this.reason} (the store only makes regular files there: remove it)`
  }
}

/**
 * What a file over the cap reads as: content no holder writes (a holder is well under 1 KiB), so such
 * a lock is abandoned, and `breakStale` still removes only the file it judged stale.
 *
 * @internal
 */
export const tooLarge = "\u0000too large"

/**
 * A small file's content, read as token files are (never through a symbolic link, never blocking on a
 * FIFO, at most `max` bytes): `None` when absent, `Refused` when not a regular file.
 *
 * @internal
 */
export const readSmall = (path: string, max: number): Effect.Effect<
  Option.Option<string>,
  PlatformError.PlatformError | Refused
> =>
  Effect.flatMap(readWithMode(path, max), (found) => {
    if (Option.isNone(found)) return Effect.succeedNone
    switch (found.value._tag) {
      case "Refused":
        return new Refused({ path, reason: found.value.reason })
      case "TooLarge":
        return Effect.succeed(Option.some(tooLarge))
      case "File":
        return Effect.succeed(Option.some(found.value.content))
    }
  })

// Far beyond a holder's JSON (a host name is at most 255 bytes).
const maxLockSize = 64 * 1024

const readOption = (path: string) => readSmall(path, maxLockSize)

const tryLink = (fs: FileSystem.FileSystem, from: string, to: string) =>
  fs.link(from, to).pipe(
    Effect.as(true),
    Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
  )

// Waits between attempts: doubling from 1 ms, never above 50 ms, each jittered, so that waiters
// neither spin nor line up. The lock's own timeout, read from `Clock`, ends the retries.
const retrySchedule = Schedule.exponential(Duration.millis(1)).pipe(
  Schedule.either(Schedule.spaced(Duration.millis(50))),
  Schedule.jittered
)

// A stale lock is removed by whoever first creates `<lock>.break`, and only if it still holds what
// was judged stale, so that two breakers never remove a lock a third process just took.
const breakStale = (
  fs: FileSystem.FileSystem,
  path: string,
  seen: string,
  temp: string,
  options: LockOptions
): Effect.Effect<void, PlatformError.PlatformError | Refused> =>
  Effect.gen(function*() {
    const breaker = `${path}.break`
    if (yield* tryLink(fs, temp, breaker)) {
      const current = yield* readOption(path)
      if (Option.isSome(current) && current.value === seen) {
        yield* fs.remove(path).pipe(Effect.catchIf(isNotFound, () => Effect.void))
      }
      yield* fs.remove(breaker).pipe(Effect.catchIf(isNotFound, () => Effect.void))
      return
    }
    const other = yield* readOption(breaker)
    const now = yield* Clock.currentTimeMillis
    if (Option.isSome(other) && isStale(parseHolder(other.value), now, options)) {
      yield* fs.remove(breaker).pipe(Effect.catchIf(isNotFound, () => Effect.void))
    } else {
      yield* Effect.sleep(Duration.millis(1))
    }
  })

/**
 * The lock files of one store. Fibers of this process queue on a semaphore per lock file rather than
 * polling the file; a semaphore lives while some fiber holds or awaits it, in a map the store owns.
 *
 * @internal
 */
export interface Locks {
  readonly withLock: <A, E, R>(
    path: string,
    use: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | PlatformError.PlatformError | LockTimeout | Refused, R>
  /** How many lock files have a semaphore now (for tests). */
  readonly size: Effect.Effect<number>
}

/**
 * The lock files of a store whose locks use `options`.
 *
 * @internal
 */
export const make = (fs: FileSystem.FileSystem, options: LockOptions): Effect.Effect<Locks> =>
  Effect.gen(function*() {
    // The map lives as long as the store: its scope is never closed, and nothing in it needs a
    // finalizer. Without an idle time to live, a path's semaphore is dropped once no fiber uses it.
    const scope = yield* Scope.make()
    const semaphores = yield* RcMap.make({ lookup: (_: string) => Effect.makeSemaphore(1) }).pipe(
      Scope.extend(scope)
    )
    return {
      withLock: (path, use) =>
        Effect.scoped(
          Effect.flatMap(RcMap.get(semaphores, path), (semaphore) =>
            semaphore.withPermits(1)(
              Effect.acquireUseRelease(acquire(fs, path, options), () => use, release(fs, path))
            ))
        ),
      size: Effect.map(RcMap.keys(semaphores), (keys) => keys.length)
    }
  })

const release = (fs: FileSystem.FileSystem, path: string) => (nonce: string) =>
  readOption(path).pipe(
    Effect.flatMap((current) =>
      Option.isSome(current) && parseHolder(current.value)?.nonce === nonce ? fs.remove(path) : Effect.void
    ),
    // A lock left behind names this thread and a nonce no longer held: the next taker breaks it.
    Effect.ignore,
    Effect.ensuring(Effect.sync(() => held.delete(nonce)))
  )

/**
 * Takes the lock file at `path`. It is created exclusively with its content already in place (written
 * to a temporary file, then hard-linked to `path`, which fails when `path` exists), so a reader never
 * sees it empty. It names the holder's pid, host and thread; a lock whose holder died (on this host),
 * or older than `staleAfter` (whoever it names), is broken. Interruptible while it waits; interrupted
 * (or failed) after taking the lock, it gives it back.
 */
const acquire = (
  fs: FileSystem.FileSystem,
  path: string,
  options: LockOptions
): Effect.Effect<string, PlatformError.PlatformError | LockTimeout | Refused> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const nonce = randomHex(16)
    const temp = `${path}.tmp-${randomHex(8)}`
    const content = JSON.stringify({ ...self(), nonce, at: start })
    // The holder last seen, for the timeout's message: the timeout is checked before each read.
    let holder: Holder | undefined
    // One attempt; a lock released meanwhile, or just broken as stale, is tried again at once.
    const attempt: Effect.Effect<string, PlatformError.PlatformError | LockTimeout | Busy | Refused> = Effect
      .suspend(() =>
        Effect.gen(function*() {
          if (yield* tryLink(fs, temp, path)) return nonce
          if ((yield* Clock.currentTimeMillis) - start >= options.timeout) return yield* new LockTimeout({ holder })
          const current = yield* readOption(path)
          if (Option.isNone(current)) return yield* attempt
          holder = parseHolder(current.value)
          const now = yield* Clock.currentTimeMillis
          if (!isStale(holder, now, options)) return yield* new Busy()
          yield* breakStale(fs, path, current.value, temp, options)
          return yield* attempt
        })
      )
    const retried = attempt.pipe(
      Effect.retry({ schedule: retrySchedule, while: (error) => error._tag === "Busy" }),
      // `Busy` is only ever retried, never returned.
      Effect.catchTag("Busy", (busy) => Effect.die(busy))
    )
    return yield* Effect.acquireUseRelease(
      fs.writeFileString(temp, content, { flag: "wx", mode: 0o600 }).pipe(
        // Created, then not written (a full disk): it is ours, and no release will remove it.
        Effect.tapError((error) => isAlreadyExists(error) ? Effect.void : fs.remove(temp).pipe(Effect.ignore)),
        // While breaking, the temporary file doubles as the breaker: it must read as held.
        Effect.zipRight(Effect.sync(() => held.add(nonce)))
      ),
      () => Effect.interruptible(retried).pipe(Effect.onError(() => release(fs, path)(nonce))),
      () => fs.remove(temp).pipe(Effect.ignore)
    )
  })
