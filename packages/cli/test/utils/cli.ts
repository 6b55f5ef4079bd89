import * as Effect from "effect/Effect"
import * as Esbuild from "esbuild"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const root = Path.resolve(__dirname, "../../../..")
const source = Path.resolve(__dirname, "../../src/bin.ts")

/**
 * How the CLI is started: the built binary when TOKENFX_CLI names it (CI, after the build), else the
 * sources. In the workspace the other packages resolve to their sources, so either entry is bundled with
 * them into one file first, once per test file: through tsx, every start transformed each module again
 * (1.8 s a command on a 2-core machine against 0.4 s for the bundle, over some forty commands). The packed
 * tarballs run with plain node in the smoke test.
 */
const command = (() => {
  let bundle: string | undefined
  return (): ReadonlyArray<string> => {
    if (bundle === undefined) {
      const built = process.env.TOKENFX_CLI
      const entry = built !== undefined && built.length > 0 ? Path.resolve(built) : source
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-cli-bundle-"))
      process.once("exit", () => Fs.rmSync(dir, { recursive: true, force: true }))
      const outfile = Path.join(dir, "bin.mjs")
      Esbuild.buildSync({
        entryPoints: [entry],
        outfile,
        bundle: true,
        platform: "node",
        format: "esm",
        target: "node20",
        logLevel: "warning",
        // CommonJS dependencies inside an ES module bundle still call require for Node's built-ins.
        banner: {
          js:
            "import { createRequire as __createRequire } from \"node:module\"; const require = __createRequire(import.meta.url);"
        }
      })
      bundle = outfile
    }
    return [bundle]
  }
})()

export interface Result {
  readonly code: number | null
  /** The signal that ended the process, when one did. */
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Running {
  /** Waits until stderr matches, and answers the match. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpExecArray>
  readonly result: Effect.Effect<Result>
  /** Sends the process a signal. */
  readonly kill: (signal: NodeJS.Signals) => void
}

// Waits until what `read` answers matches `pattern`, looking again each time a waiter is woken; fails
// once the process has `ended` without it.
const waiting = (waiters: Array<() => void>, read: () => string, ended: () => boolean) => (pattern: RegExp) =>
  Effect.promise(() =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(read())
        if (match !== null) return resolve(match)
        if (ended()) return reject(new Error(`the process ended before ${pattern}: ${read()}`))
        waiters.push(check)
      }
      check()
    })
  )

/**
 * Starts `tokenfx args` with the environment `env` (on top of a minimal one: no HOME, no display), with
 * no terminal: in a session of its own, as a service or a script is, even when the tests run in one
 * (`startInTerminal` gives it one).
 */
export const start = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>): Running => {
  const child = ChildProcess.spawn(process.execPath, [...command(), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  let stdout = ""
  let stderr = ""
  const waiters: Array<() => void> = []
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8")
  })
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8")
    for (const wake of waiters.splice(0)) wake()
  })
  const done = new Promise<Result>((resolve) => {
    child.on("close", (code, signal) => {
      for (const wake of waiters.splice(0)) wake()
      resolve({ code, signal, stdout, stderr })
    })
  })
  const waitFor = waiting(waiters, () => stderr, () => child.exitCode !== null)
  return { waitFor, result: Effect.promise(() => done), kill: (signal) => void child.kill(signal) }
}

/** Runs `tokenfx args` to its end. */
export const run = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>): Effect.Effect<Result> =>
  start(args, env).result

export interface InTerminal {
  /** Waits until the terminal's output matches, and answers the match. */
  readonly waitFor: (pattern: RegExp) => Effect.Effect<RegExpExecArray>
  /** Types `keys` at the terminal: "\x03" is Ctrl-C. */
  readonly type: (keys: string) => void
  /** Sends tokenfx alone a signal, as another process would. */
  readonly kill: (signal: NodeJS.Signals) => void
  /** tokenfx's exit code, and all the terminal showed. */
  readonly result: Effect.Effect<{ readonly code: number | null; readonly output: string }>
}

const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`

/**
 * Starts `tokenfx args` in a pseudo-terminal of its own, as from an interactive shell: util-linux
 * `script` makes the terminal and runs tokenfx as its foreground process, with the terminal as its
 * controlling one. What is typed goes to the terminal; its exit code is tokenfx's (`script -e`).
 */
export const startInTerminal = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>
): InTerminal => {
  const line = ["exec", process.execPath, ...command(), ...args].map(quote).join(" ")
  const child = ChildProcess.spawn("script", ["--quiet", "--return", "--flush", "--command", line, "/dev/null"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", SHELL: "/bin/sh", TERM: "dumb", ...env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let output = ""
  const waiters: Array<() => void> = []
  const received = (chunk: Buffer) => {
    output += chunk.toString("utf8")
    for (const wake of waiters.splice(0)) wake()
  }
  child.stdout.on("data", received)
  child.stderr.on("data", received)
  const done = new Promise<{ code: number | null; output: string }>((resolve) => {
    child.on("close", (code) => {
      for (const wake of waiters.splice(0)) wake()
      resolve({ code, output })
    })
  })
  const waitFor = waiting(waiters, () => output, () => child.exitCode !== null)
  // tokenfx is the process `script` started (its shell exec'd it).
  const kill = (signal: NodeJS.Signals) => {
    const pid = Number(ChildProcess.execFileSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).trim())
    process.kill(pid, signal)
  }
  return { waitFor, type: (keys) => void child.stdin.write(keys), kill, result: Effect.promise(() => done) }
}
