/**
 * Application instances as child processes (`fixtures/crossProcessWorker.ts`, bundled once per test
 * file), and the line protocol the cross-process tests speak with them.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import * as Url from "node:url"
import { bundle } from "./bundle.js"

const packageRoot = Url.fileURLToPath(new URL("../..", import.meta.url))
const bundles = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-xp-bundle-"))
process.once("exit", () => Fs.rmSync(bundles, { recursive: true, force: true }))
const worker = await bundle(
  Url.fileURLToPath(new URL("../fixtures/crossProcessWorker.ts", import.meta.url)),
  bundles,
  { native: ["better-sqlite3"] }
)

export interface Report {
  readonly gets: number
  readonly failures: ReadonlyArray<string>
  readonly distinctTokens: number
  readonly maxGetMillis: number
}

export interface Child {
  readonly process: ChildProcess.ChildProcess
  readonly ready: Promise<void>
  readonly holding: Promise<number>
  readonly served: Promise<void>
  readonly report: Promise<Report | undefined>
  readonly exited: Promise<number | null>
  readonly stderr: () => string
}

export const spawn = (env: Record<string, string>): Child => {
  const proc = ChildProcess.spawn(process.execPath, [worker], {
    cwd: packageRoot,
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"]
  })
  let stderr = ""
  proc.stderr.on("data", (chunk) => stderr += String(chunk))
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)))
  let ready: () => void = () => {}
  let holding: (at: number) => void = () => {}
  let served: () => void = () => {}
  let report: (report: Report | undefined) => void = () => {}
  const promises = {
    ready: new Promise<void>((resolve) => ready = resolve),
    holding: new Promise<number>((resolve) => holding = resolve),
    served: new Promise<void>((resolve) => served = resolve),
    report: new Promise<Report | undefined>((resolve) => report = resolve)
  }
  Readline.createInterface({ input: proc.stdout }).on("line", (line) => {
    if (line === "READY") ready()
    else if (line === "HOLDING") holding(Date.now())
    else if (line === "SERVED") served()
    else if (line.startsWith("{")) report(JSON.parse(line))
  })
  void exited.then(() => report(undefined))
  return { process: proc, ...promises, exited, stderr: () => stderr }
}

export const within = <A>(promise: Promise<A>, millis: number, what: string): Promise<A> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), millis))
  ])
