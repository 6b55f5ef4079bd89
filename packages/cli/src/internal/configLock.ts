/** @internal */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Os from "node:os"
import * as Process from "node:process"
import * as CliError from "../CliError.js"

// A lock file beside config.json, held while a command re-reads, changes and rewrites it (a few file
// operations), so that two logins finishing together each add their profile. Taken as the token
// store takes its locks: the holder's content written to a temporary file, then hard-linked to the
// lock path, which fails when another holds it, so that no reader ever sees it half written.

/** @internal */
export interface Options {
  /** How long to wait for another holder. */
  readonly timeout: Duration.DurationInput
  /** A lock older than this is abandoned, whoever it names: it is held for milliseconds. */
  readonly staleAfter: Duration.DurationInput
}

const defaults: Options = { timeout: Duration.seconds(10), staleAfter: Duration.seconds(30) }

interface Holder {
  readonly pid: number
  readonly host: string
  readonly nonce: string
  readonly at: number
}

const parseHolder = (content: string): Holder | undefined => {
  try {
    const u = JSON.parse(content)
    return typeof u === "object" && u !== null && typeof u.pid === "number" && typeof u.host === "string" &&
        typeof u.nonce === "string" && typeof u.at === "number"
      ? u
      : undefined
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => {
  if (pid === Process.pid) return true
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    Process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as { readonly code?: unknown }).code === "EPERM"
  }
}

// A holder of this process is never stale: it is a fiber that will release it. One on another host
// cannot be asked whether it runs: only its age tells.
const isStale = (holder: Holder | undefined, now: number, staleAfter: number): boolean => {
  if (holder === undefined) return true
  if (holder.host === Os.hostname() && holder.pid === Process.pid) return false
  if (!Number.isFinite(holder.at) || Math.abs(now - holder.at) > staleAfter) return true
  return holder.host === Os.hostname() && !isAlive(holder.pid)
}

const isNotFound = (e: PlatformError.PlatformError) => e._tag === "SystemError" && e.reason === "NotFound"
const isAlreadyExists = (e: PlatformError.PlatformError) => e._tag === "SystemError" && e.reason === "AlreadyExists"

class Busy {
  readonly _tag = "Busy"
}

const failure = (path: string) => (error: { readonly message: string }) =>
  CliError.make(
    "Configuration",
    `Cannot lock the config file (${path}): ${error.message}`,
    "check the config directory"
  )

/**
 * Runs `use` holding the lock file `path`. Waits (interruptibly) for another holder up to the timeout;
 * breaks a lock whose process died on this host, or that is older than `staleAfter`.
 *
 * @internal
 */
export const withLock = <A, E, R>(
  path: string,
  use: Effect.Effect<A, E, R>,
  options: Options = defaults
): Effect.Effect<A, E | CliError.CliError, R | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const nonce = Encoding.encodeHex(globalThis.crypto.getRandomValues(new Uint8Array(16)))
    const temporary = `${path}.${nonce}.tmp`
    const start = yield* Clock.currentTimeMillis
    const timeout = Duration.toMillis(options.timeout)
    const staleAfter = Duration.toMillis(options.staleAfter)
    const readLock = fs.readFileString(path).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isNotFound, () => Effect.succeedNone)
    )
    // One attempt; a lock just broken as stale is tried again at once.
    const attempt: Effect.Effect<void, CliError.CliError | Busy | PlatformError.PlatformError> = Effect.suspend(() =>
      Effect.gen(function*() {
        const taken = yield* fs.link(temporary, path).pipe(
          Effect.as(true),
          Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
        )
        if (taken) return
        const now = yield* Clock.currentTimeMillis
        const current = yield* readLock
        if (Option.isNone(current)) return yield* attempt
        const holder = parseHolder(current.value)
        if (isStale(holder, now, staleAfter)) {
          // Removed only if it still holds what was judged stale.
          const again = yield* readLock
          if (Option.isSome(again) && again.value === current.value) {
            yield* fs.remove(path).pipe(Effect.catchIf(isNotFound, () => Effect.void))
          }
          return yield* attempt
        }
        if (now - start >= timeout) {
          return yield* CliError.make(
            "Failure",
            `Another tokenfx process (pid ${holder?.pid}) has been changing the config file for ${
              Duration.format(Duration.millis(now - start))
            }`,
            `retry; if no tokenfx is running, remove ${path}`
          )
        }
        return yield* Effect.fail(new Busy())
      })
    )
    const content = JSON.stringify({ pid: Process.pid, host: Os.hostname(), nonce, at: start })
    const acquire = fs.writeFileString(temporary, content, { flag: "wx", mode: 0o600 }).pipe(
      Effect.zipRight(
        attempt.pipe(
          Effect.retry({
            schedule: Schedule.jittered(Schedule.spaced(Duration.millis(20))),
            while: (error) => error instanceof Busy
          })
        )
      ),
      Effect.ensuring(fs.remove(temporary).pipe(Effect.ignore))
    )
    const release = readLock.pipe(
      Effect.flatMap((current) =>
        Option.isSome(current) && parseHolder(current.value)?.nonce === nonce ? fs.remove(path) : Effect.void
      ),
      Effect.ignore
    )
    const acquireOrFail = acquire.pipe(
      Effect.catchAll((error) =>
        error instanceof Busy // only ever retried, never left over
          ? Effect.die(error)
          : error instanceof CliError.CliError
          ? Effect.fail(error)
          : Effect.fail(failure(path)(error))
      ),
      // Waiting is interruptible; interrupted once the lock was taken, it is given back.
      Effect.interruptible,
      Effect.onInterrupt(() => release)
    )
    return yield* Effect.acquireUseRelease(acquireOrFail, () => use, () => release)
  })
