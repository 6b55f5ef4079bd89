/**
 * Signals while `tokenfx` runs. Ctrl-C (SIGINT) or SIGTERM interrupts the command rather than ending
 * the process on the spot: the token manager's end then lets a refresh under way finish and store its
 * token, within its grace (its refresh token is sent: killed outright, the process may lose the grant).
 * A second signal ends the process at once; the exit code is the shell's for the signal. While `exec`
 * runs a command, SIGINT is passed on to it (it runs in a process group of its own, which the
 * terminal's Ctrl-C does not reach): an interactive command decides what it means, and its exit code
 * is passed on as usual.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

const codes: Readonly<Record<"SIGINT" | "SIGTERM", number>> = { SIGINT: 130, SIGTERM: 143 }

const children = new Set<(signal: "SIGINT") => void>()

/** Runs `self` while `forward` passes SIGINT on to the command it waits for. @internal */
export const foreground = <A, E, R>(
  forward: (signal: "SIGINT") => void,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => children.add(forward)),
    () => self,
    () => Effect.sync(() => children.delete(forward))
  )

/** Interrupts `fiber` on the first signal, exits on the second; answers how to let go of the signals. @internal */
export const install = (fiber: Fiber.RuntimeFiber<unknown, unknown>): () => void => {
  let received = false
  const handler = (signal: "SIGINT" | "SIGTERM") => {
    if (signal === "SIGINT" && children.size > 0) {
      for (const forward of children) forward(signal)
      return
    }
    if (received) process.exit(codes[signal])
    received = true
    process.exitCode = codes[signal]
    fiber.unsafeInterruptAsFork(FiberId.none)
  }
  process.on("SIGINT", handler)
  process.on("SIGTERM", handler)
  return () => {
    process.removeListener("SIGINT", handler)
    process.removeListener("SIGTERM", handler)
  }
}
