/**
 * Signals while `tokenfx` runs. Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) interrupts
 * the command rather than ending the process on the spot: the token manager's end then lets a refresh
 * under way finish and store its token, within its grace (its refresh token is sent: killed outright,
 * the process may lose the grant). A second signal ends the process at once; the exit code is the
 * shell's for the signal. While `exec` runs a command, every signal is handed to it instead
 * (`internal/child`), which passes on what the command would not get otherwise.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"

/** The signals tokenfx handles. @internal */
export type Signal = "SIGINT" | "SIGTERM" | "SIGHUP"

const codes: Readonly<Record<Signal, number>> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }

const children = new Set<(signal: Signal) => void>()

/** Runs `self` with every signal handed to `forward` rather than interrupting tokenfx. @internal */
export const foreground = <A, E, R>(
  forward: (signal: Signal) => void,
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
  const handler = (signal: Signal) => {
    if (children.size > 0) {
      for (const forward of children) forward(signal)
      return
    }
    if (received) process.exit(codes[signal])
    received = true
    process.exitCode = codes[signal]
    fiber.unsafeInterruptAsFork(FiberId.none)
  }
  for (const signal of Object.keys(codes) as Array<Signal>) process.on(signal, handler)
  return () => {
    for (const signal of Object.keys(codes) as Array<Signal>) process.removeListener(signal, handler)
  }
}
