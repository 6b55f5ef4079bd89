/**
 * TokenManager figures that a vitest bench cannot give: memory per key (with background refresh, at
 * 100,000 keys), the cost per waiter in a 10,000-caller herd, and a cached `get` at 1,000 and 100,000
 * keys. Run with `pnpm bench` (which passes --expose-gc); results go to bench/results/.
 *
 * Medians of several rounds, in one process; the machine, Node version and date are recorded beside.
 */
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

let issued = 0
// Answers at once with a fresh one-hour token, so that only the manager is measured.
const source = TokenSource.make(() =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    issued++
    return Token.make({
      access_token: Redacted.make(`at-${issued}`),
      refresh_token: Redacted.make(`rt-${issued}`),
      expires_in: 3600
    }, now)
  }), { requiresRefreshToken: false })

const runtimeFor = (options: TokenManager.Options) =>
  ManagedRuntime.make(
    TokenManager.layerWithSource(options).pipe(
      Layer.provide(TokenStore.layerMemory),
      Layer.provide(Layer.succeed(TokenSource.TokenSource, source))
    )
  )

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

const tokenFor = (i: number, now: number) =>
  Token.make({
    access_token: Redacted.make(`at-user-${i}`),
    refresh_token: Redacted.make(`rt-user-${i}`),
    expires_in: 3600
  }, now)

// Bytes per key held by a manager (and its memory store) with `keys` keys, tokens included. Run in
// a fresh process (below): there the heap before is the bare runtime's.
const memoryPerKey = async (keys: number, background: boolean) => {
  const before = heap()
  const runtime = runtimeFor({ backgroundRefresh: background })
  const manager = await runtime.runPromise(TokenManager.TokenManager)
  const now = Date.now()
  await runtime.runPromise(Effect.gen(function*() {
    for (let i = 0; i < keys; i++) yield* manager.set(`user-${i}`, tokenFor(i, now))
    for (let i = 0; i < keys; i++) yield* manager.get(`user-${i}`)
  }))
  const after = heap()
  await runtime.dispose()
  return (after - before) / keys
}

// Nanoseconds per cached `get` inside a fiber, cycling through `keys` keys.
const cachedGet = async (keys: number) => {
  const runtime = runtimeFor({})
  const manager = await runtime.runPromise(TokenManager.TokenManager)
  const now = Date.now()
  const names = Array.from({ length: keys }, (_, i) => `user-${i}`)
  await runtime.runPromise(Effect.forEach(names, (name, i) => manager.set(name, tokenFor(i, now)), { discard: true }))
  const calls = 1_000_000
  const loop = Effect.gen(function*() {
    for (let i = 0; i < calls; i++) yield* manager.get(names[i % keys]!)
  })
  const rounds: Array<number> = []
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint()
    runtime.runSync(loop)
    rounds.push(Number(process.hrtime.bigint() - start) / calls)
  }
  await runtime.dispose()
  return median(rounds)
}

// The same loop with no manager: a `Map` lookup of a held effect per call. What any cached lookup
// in a fiber costs on this machine, so that the figures above can be read against it.
const lookupLoop = (keys: number, held: (name: string) => Effect.Effect<string>) => {
  const names = Array.from({ length: keys }, (_, i) => `user-${i}`)
  const table = new Map(names.map((name) => [name, held(name)]))
  const calls = 1_000_000
  const loop = Effect.gen(function*() {
    for (let i = 0; i < calls; i++) yield* table.get(names[i % keys]!)!
  })
  const rounds: Array<number> = []
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint()
    Effect.runSync(loop)
    rounds.push(Number(process.hrtime.bigint() - start) / calls)
  }
  return median(rounds)
}

// The least a `get` can do through Effect's public API and still decide when it runs rather than
// when it was built: an effect of its own (`Effectable.Class`) that reads the clock, then answers a
// held `Exit`. Its `commit` is a step of the run loop of its own, before the `Exit`'s.
const liveClock = Clock.make()

class ClockedExit extends Effectable.Class<string> {
  used = 0
  constructor(readonly exit: Exit.Exit<string>) {
    super()
  }
  commit(): Effect.Effect<string> {
    this.used = Math.floor(liveClock.unsafeCurrentTimeMillis() / 1000) | 0
    return this.exit
  }
}

const mapGet = (keys: number) => lookupLoop(keys, (name) => Exit.succeed(name))
const clockedGet = (keys: number) => lookupLoop(keys, (name) => new ClockedExit(Exit.succeed(name)))

// Bytes allocated by building a cached `get` (running it adds nothing: its effect answers the held
// Exit), from the heap's growth over calls too few to start a collection; the effects are kept alive.
// The least of the rounds: what else grows the heap meanwhile only adds (in some processes, rounds
// read 16 to 18 B per call while every call answered the one same object, which allocates nothing).
const allocatedPerGet = async () => {
  const runtime = runtimeFor({})
  const manager = await runtime.runPromise(TokenManager.TokenManager)
  await runtime.runPromise(manager.set("user-0", tokenFor(0, Date.now())))
  runtime.runSync(manager.get("user-0"))
  const calls = 10_000
  const held: Array<unknown> = new Array(calls).fill(undefined)
  const rounds: Array<number> = []
  for (let round = 0; round < 7; round++) {
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < calls; i++) held[i] = manager.get("user-0")
    rounds.push((process.memoryUsage().heapUsed - before) / calls)
    held.fill(undefined)
  }
  await runtime.dispose()
  return Math.max(0, Math.min(...rounds))
}

// How a herd's callers are started. `fork`: each caller is a fiber of its own, forked one after
// another and awaited, as independent request handlers are. `forEach`: `Effect.forEach` with unbounded
// concurrency, which also joins every child's FiberRefs back into the parent, a cost of its own.
type Callers = "fork" | "forEach"

const callersOf = (how: Callers, callers: number, caller: (i: number) => Effect.Effect<unknown, unknown>) =>
  how === "forEach"
    ? Effect.forEach(Array.from({ length: callers }), (_, i) => caller(i), { concurrency: "unbounded", discard: true })
    : Effect.gen(function*() {
      const fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
      for (let i = 0; i < callers; i++) fibers.push(yield* Effect.fork(caller(i)))
      for (const fiber of fibers) yield* Fiber.await(fiber)
    })

// Microseconds per waiter: 10,000 concurrent gets of a key whose token is due, one refresh for all.
const herd = async (how: Callers, callers: number) => {
  const runtime = runtimeFor({})
  const manager = await runtime.runPromise(TokenManager.TokenManager)
  const rounds: Array<number> = []
  for (let round = 0; round < 7; round++) {
    const key = `herd-${how}-${round}`
    const due = Token.make({
      access_token: Redacted.make("at-due"),
      refresh_token: Redacted.make("rt-due"),
      expires_in: 3600
    }, Date.now() - 3_540_000)
    await runtime.runPromise(manager.set(key, due))
    const before = issued
    const start = process.hrtime.bigint()
    await runtime.runPromise(callersOf(how, callers, () => manager.get(key)))
    rounds.push(Number(process.hrtime.bigint() - start) / 1_000 / callers)
    if (issued - before !== 1) throw new Error(`expected one refresh, got ${issued - before}`)
  }
  await runtime.dispose()
  return median(rounds)
}

// The herd's harness alone: as many callers started the same way, all awaiting one `Deferred` that
// the last completes. Starting the callers dominates a herd; this is the part no manager can remove.
const herdHarness = async (how: Callers, callers: number) => {
  const rounds: Array<number> = []
  for (let round = 0; round < 7; round++) {
    const done = Deferred.unsafeMake<void>(FiberId.none)
    const start = process.hrtime.bigint()
    await Effect.runPromise(
      callersOf(how, callers, (i) => i === callers - 1 ? Deferred.succeed(done, undefined) : Deferred.await(done))
    )
    rounds.push(Number(process.hrtime.bigint() - start) / 1_000 / callers)
  }
  return median(rounds)
}

// Memory is measured in a process of its own, median of three. In this one, the runtimes of earlier
// figures free their heap lazily, after their dispose: measured after them, the heap shrinks while the
// keys are added (negative figures were seen), and one-time growth, such as `Redacted`'s registry
// table, would be counted by whichever figure runs first.
const childFlag = "--memory-per-key"
if (process.argv[2] === childFlag) {
  process.stdout.write(String(await memoryPerKey(Number(process.argv[3]), process.argv[4] === "background")))
  process.exit(0)
}
const memoryInChild = (keys: number, background: boolean) =>
  median(Array.from({ length: 3 }, () =>
    Number(
      ChildProcess.execFileSync(process.execPath, [
        ...process.execArgv,
        Url.fileURLToPath(import.meta.url),
        childFlag,
        String(keys),
        background ? "background" : "none"
      ], { encoding: "utf8" })
    )))

// Measured first: a heap that earlier figures' runtimes still settle (finalizers, a last sweep) would
// count their allocations too.
const allocated = await allocatedPerGet()

const results = {
  machine: `${Os.cpus()[0]?.model ?? "unknown"} x${Os.cpus().length}, ${Math.round(Os.totalmem() / 2 ** 30)} GiB`,
  node: process.version,
  date: new Date().toISOString().slice(0, 10),
  figures: {
    "cached get in a fiber, 1,000 keys (ns)": await cachedGet(1_000),
    "cached get in a fiber, 100,000 keys (ns)": await cachedGet(100_000),
    "per waiter, 10,000-caller herd, callers forked (µs)": await herd("fork", 10_000),
    "harness alone: 10,000 forked fibers awaiting one Deferred, no manager (µs)": await herdHarness("fork", 10_000),
    "per waiter, 10,000-caller herd, callers through Effect.forEach (µs)": await herd("forEach", 10_000),
    "harness alone: Effect.forEach of 10,000 awaiting one Deferred, no manager (µs)": await herdHarness(
      "forEach",
      10_000
    ),
    "harness alone: Map lookup of a held Exit in a fiber, 1,000 keys (ns)": mapGet(1_000),
    "harness alone: Map lookup of a held Exit in a fiber, 100,000 keys (ns)": mapGet(100_000),
    "harness alone: Map lookup of an Effectable reading the clock, then its Exit, 1,000 keys (ns)": clockedGet(1_000),
    "harness alone: Map lookup of an Effectable reading the clock, then its Exit, 100,000 keys (ns)": clockedGet(
      100_000
    ),
    "bytes allocated per cached get (least of 7 rounds)": allocated,
    "bytes per key, 100,000 keys, no background refresh": memoryInChild(100_000, false),
    "bytes per key, 100,000 keys, background refresh": memoryInChild(100_000, true)
  },
  goals: {
    "cached get in a fiber, 1,000 keys (ns)": 250,
    "cached get in a fiber, 100,000 keys (ns)": 250,
    "per waiter, 10,000-caller herd, callers forked (µs)": 20,
    "per waiter, 10,000-caller herd, callers through Effect.forEach (µs)": 20,
    "bytes allocated per cached get (least of 7 rounds)": 1,
    "bytes per key, 100,000 keys, no background refresh": 1024,
    "bytes per key, 100,000 keys, background refresh": 2048
  }
}

const rows = Object.entries(results.figures).map(([name, value]) => {
  const goal = (results.goals as Record<string, number>)[name]
  const shown = value.toFixed(name.includes("µs") || name.startsWith("bytes allocated") ? 1 : 0)
  return goal === undefined
    ? `| ${name} | ${shown} | (reference) | |`
    : `| ${name} | ${shown} | ≤ ${goal} | ${value <= goal ? "met" : "missed"} |`
})
const markdown = [
  `# TokenManager figures`,
  ``,
  `${results.machine}; Node ${results.node}; ${results.date}; load average ${
    Os.loadavg()[0]!.toFixed(1)
  }. Medians of 7 rounds; memory (median of 3 fresh processes) includes the tokens and the memory store.`,
  `The "harness alone" rows run the same loops with no manager: what Effect itself costs here, to read the figures against.`,
  `The Effectable rows are the least a cached \`get\` can cost through Effect's public API while reading the clock when it runs.`,
  `A herd's callers are started two ways: forked one by one (each a fiber of its own, as request handlers are), and through`,
  `\`Effect.forEach\` with unbounded concurrency, which also merges every child's FiberRefs back into the parent.`,
  ``,
  `| figure | value | goal | |`,
  `| --- | --- | --- | --- |`,
  ...rows,
  ``
].join("\n")
const dir = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "results")
Fs.mkdirSync(dir, { recursive: true })
Fs.writeFileSync(Path.join(dir, "token-manager.json"), JSON.stringify(results, null, 2) + "\n")
Fs.writeFileSync(Path.join(dir, "token-manager.md"), markdown)
process.stdout.write(markdown)
