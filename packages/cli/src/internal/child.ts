/**
 * The command `exec` runs, as a command typed at the terminal would run. In a terminal it shares
 * tokenfx's process group and has the terminal as its controlling one: whatever opens /dev/tty works
 * (ssh or sudo asking for a password, a pager), and Ctrl-C, Ctrl-Z, a resize or the terminal closing
 * reach it from the terminal itself, once; only SIGTERM, which is sent to tokenfx alone, is passed on.
 * `@effect/platform`'s Command always starts a session of its own, which has no terminal, hence
 * node:child_process here. Without a terminal (a service, a container's PID 1), the command gets a
 * process group of its own and every signal tokenfx receives is passed on to it, once. Either way
 * tokenfx waits for the command and answers its exit code (128 + n when signal n ended it).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as CliError from "../CliError.js"
import * as signals from "./signals.js"

// Whether tokenfx has a controlling terminal, the one /dev/tty names.
const hasTerminal = (): boolean => {
  if (process.platform === "win32") return false
  try {
    Fs.closeSync(Fs.openSync("/dev/tty", "r"))
    return true
  } catch {
    return false
  }
}

interface Running {
  readonly child: ChildProcess.ChildProcess
  readonly exit: Promise<number>
  readonly group: boolean
}

const spawn = (
  program: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  group: boolean
): Effect.Effect<Running, CliError.CliError> =>
  Effect.async((resume) => {
    const child = ChildProcess.spawn(program, args, {
      stdio: "inherit",
      env: { ...process.env, ...env },
      detached: group
    })
    const exit = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) =>
        resolve(code ?? 128 + (signal === null ? 0 : Os.constants.signals[signal] ?? 0)))
    })
    let started = false
    child.once("spawn", () => {
      started = true
      resume(Effect.succeed({ child, exit, group }))
    })
    // Heard for the command's whole life: a failed kill is an "error" too, which unheard would end tokenfx.
    child.on("error", (error) => {
      if (!started) {
        resume(CliError.make(
          "Usage",
          `Cannot run "${program}": ${error.message}`,
          "check the command's name and that it is on PATH"
        ))
      }
    })
  })

// To the command's own group (a shell script's children with it) where it has one.
const send = (running: Running, signal: NodeJS.Signals) => {
  try {
    if (running.group && running.child.pid !== undefined) return void process.kill(-running.child.pid, signal)
  } catch {
    // The group is gone, or was never made: the command alone.
  }
  running.child.kill(signal)
}

const stillRunning = (running: Running) => running.child.exitCode === null && running.child.signalCode === null

/**
 * Runs `program` with `args` and `env` added to tokenfx's environment, to its end; answers its exit
 * code. Interrupted, it stops the command (SIGTERM) and waits for it.
 *
 * @internal
 */
export const run = (
  program: string,
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>
): Effect.Effect<number, CliError.CliError> =>
  Effect.suspend(() => {
    const terminal = hasTerminal()
    return Effect.acquireUseRelease(
      spawn(program, args, env, !terminal && process.platform !== "win32"),
      (running) =>
        signals.foreground(
          (signal) => {
            // In a terminal, the command got SIGINT and SIGHUP as tokenfx did, from the terminal.
            if (!terminal || signal === "SIGTERM") send(running, signal)
          },
          Effect.promise(() => running.exit)
        ),
      (running) =>
        Effect.promise(() => {
          if (stillRunning(running)) send(running, "SIGTERM")
          return running.exit
        })
    )
  })
