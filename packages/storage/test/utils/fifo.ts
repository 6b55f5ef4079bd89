/**
 * FIFOs at a store's paths, and a writer that unblocks whoever opens one for reading without
 * `O_NONBLOCK` (so that a store that does never hangs a test: it fails instead).
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"

/** Makes a FIFO (mode 0600) at `path`. */
export const mkfifo = (path: string): void => {
  ChildProcess.execFileSync("mkfifo", ["-m", "600", path])
}

// A non-blocking open for writing fails with ENXIO until some reader holds the FIFO open (a reader
// blocked in `open(2)` counts): then it writes `content` and closes, which ends that reader's read.
const feedOnce = (path: string, content: string): "fed" | "no reader" | "gone" => {
  let fd: number
  try {
    fd = Fs.openSync(path, Fs.constants.O_WRONLY | Fs.constants.O_NONBLOCK)
  } catch (error) {
    return (error as { readonly code?: unknown }).code === "ENXIO" ? "no reader" : "gone"
  }
  try {
    // Replaced by a regular file meanwhile: not ours to write.
    if (!Fs.fstatSync(fd).isFIFO()) return "gone"
    Fs.writeSync(fd, content)
  } catch {
    // EPIPE: the reader closed meanwhile (a non-blocking open that saw a FIFO and let go).
  } finally {
    Fs.closeSync(fd)
  }
  return "fed"
}

// Lets the event loop run pending I/O (the store's) between two attempts: no clock involved.
const nextTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Feeds `content` to every reader of the FIFO at `path`, until interrupted or the FIFO is gone. Fork it
 * beside the operation under test; it never waits on a clock, it only yields between attempts.
 */
export const feed = (path: string, content: string): Effect.Effect<void> =>
  Effect.suspend(() =>
    feedOnce(path, content) === "gone" ? Effect.void : Effect.zipRight(nextTurn, feed(path, content))
  )

/** Runs `self` while every reader of the FIFO at `path` is fed `content`. */
export const whileFed = <A, E, R>(
  path: string,
  content: string,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  // Forked from an uninterruptible acquire: the feeder must be made interruptible itself.
  Effect.acquireUseRelease(Effect.fork(Effect.interruptible(feed(path, content))), () => self, Fiber.interrupt)
