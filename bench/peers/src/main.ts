/**
 * tokenfx beside the libraries people pick today, on one loopback token endpoint and resource (a
 * child process: see server.ts), in one run: `pnpm bench:peers` (`-- --quick` for a smoke run that
 * writes nothing). Blocks:
 *
 * - A: authorized GETs per second with a cached token, as a ratio to raw `fetch` in the same round.
 * - B: a herd at expiry (500 and 10,000 callers): token endpoint calls and failed callers.
 * - C: the cost of a cached token to a Promise caller (ns per call).
 * - D: rotation under concurrency: grants still alive after two expiries with 50 callers each, with
 *   and without reuse detection at the server.
 * - keys: 1, 1,000 and 100,000 keys: ns per cached get and bytes per key.
 * - stores: compare-and-set per second per tokenfx store (see stores.ts).
 *
 * Every block runs the peers in an order rotated from one round (or block) to the next, so that no
 * peer always runs first. Expiry is reached by moving the clock of this process forward (`Date`),
 * never by waiting. Results go to bench/results/peers.{json,md} and the README's table.
 */
import * as Effect from "effect/Effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import * as Util from "node:util"
import { blockFleet } from "./fleet.js"
import { effectLoop, type Factory, keyTokens, makeTokenfx, peers, raw, type TokenJson } from "./peers.js"
import { blockStores, dropPgTables } from "./stores.js"

const quick = process.argv.includes("--quick")
const sizes = quick
  ? {
    rounds: 1,
    requests: 300,
    concurrency: 16,
    calls: 20_000,
    herds: [500],
    grants: 5,
    waves: 50,
    keys: [1, 1_000],
    writes: 200,
    fleet: { processes: 2, seconds: 2 }
  }
  : {
    rounds: 3,
    requests: 3_000,
    concurrency: 16,
    calls: 300_000,
    herds: [500, 10_000],
    grants: 20,
    waves: 50,
    keys: [1, 1_000, 100_000],
    writes: 2_000,
    fleet: { processes: 8, seconds: 5 }
  }

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const rotate = <A>(items: ReadonlyArray<A>, by: number) => items.map((_, i) => items[(i + by) % items.length]!)
const execFile = Util.promisify(ChildProcess.execFile)
const log = (line: string) => process.stderr.write(`${line}\n`)

// The server, in a child process, driven over IPC.
const here = Path.dirname(Url.fileURLToPath(import.meta.url))
const child = ChildProcess.fork(Path.join(here, "server.ts"), [], { execArgv: ["--import", "tsx"] })
const pending = new Map<number, (result: unknown) => void>()
let ids = 0
const port = await new Promise<number>((resolve) =>
  child.on("message", (message: { ready?: number; id?: number; result?: unknown }) => {
    if (message.ready !== undefined) return resolve(message.ready)
    pending.get(message.id!)?.(message.result)
    pending.delete(message.id!)
  })
)
const rpc = <A>(op: string, extra: object = {}) =>
  new Promise<A>((resolve) => {
    const id = ++ids
    pending.set(id, resolve as (result: unknown) => void)
    child.send({ id, op, ...extra })
  })
interface Stats {
  readonly tokenCalls: number
  readonly invalidGrant: number
  readonly reuse: number
}
const base = `http://127.0.0.1:${port}`
const url = `${base}/resource`
const grant = () => rpc<TokenJson>("grant")

// The clock of this process, moved forward for B and D only (every peer reads `Date`, tokenfx too).
const RealDate = Date
let offset = 0
class ShiftedDate extends RealDate {
  constructor(...args: Array<unknown>) {
    if (args.length === 0) super(RealDate.now() + offset)
    else super(...(args as [string]))
  }
  static override now() {
    return RealDate.now() + offset
  }
}
const shifted = async <A>(f: () => Promise<A>): Promise<A> => {
  globalThis.Date = ShiftedDate as DateConstructor
  try {
    return await f()
  } finally {
    globalThis.Date = RealDate
  }
}
const TWO_HOURS = 2 * 3600 * 1000

// Some peers print every failed refresh; the counts below say it once.
const quiet = async <A>(f: () => Promise<A>): Promise<A> => {
  const warn = console.warn
  const error = console.error
  console.warn = () => {}
  console.error = () => {}
  try {
    return await f()
  } finally {
    console.warn = warn
    console.error = error
  }
}

const pool = async (requests: number, concurrency: number, f: () => Promise<void>) => {
  let started = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (started < requests) {
      started++
      await f()
    }
  }))
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

// A: authorized GETs per second, as a ratio to raw fetch in the same round.
const blockA = async () => {
  log("A: hot path")
  const factories: Array<Factory> = []
  const runners: Array<{ name: string; run: (n: number) => Promise<void> }> = []
  for (const peer of [raw, ...peers]) {
    const factory = await peer.make(base)
    factories.push(factory)
    const client = await factory.client(await grant(), "a")
    runners.push({
      name: peer === peers[0] ? "tokenfx authorizedFetch (Promise)" : peer.name,
      run: (n) => pool(n, sizes.concurrency, () => client.get(url))
    })
  }
  const fx = await makeTokenfx(base)
  const token = await grant()
  await fx.set(token, "a")
  const authorized = fx.authorized("a")
  runners.push({
    name: "tokenfx AuthorizedClient (in a fiber)",
    run: (n) => fx.runtime.runPromise(effectLoop(authorized, url, n, sizes.concurrency))
  })
  const platformOnly = fx.platformOnly(token.access_token)
  runners.push({
    name: "(@effect/platform FetchHttpClient alone, token set by hand, in a fiber)",
    run: (n) => fx.runtime.runPromise(effectLoop(platformOnly, url, n, sizes.concurrency))
  })
  const perSecond = new Map<string, Array<number>>()
  const ratios = new Map<string, Array<number>>()
  for (let round = 0; round < sizes.rounds; round++) {
    const results = new Map<string, number>()
    for (const runner of rotate(runners, round)) {
      await runner.run(Math.min(500, sizes.requests))
      const start = process.hrtime.bigint()
      await runner.run(sizes.requests)
      results.set(runner.name, sizes.requests / seconds(start))
    }
    const floor = results.get(raw.name)!
    for (const [name, value] of results) {
      perSecond.set(name, [...(perSecond.get(name) ?? []), value])
      ratios.set(name, [...(ratios.get(name) ?? []), value / floor])
    }
  }
  for (const factory of factories) await factory.dispose()
  await fx.runtime.dispose()
  return runners.map(({ name }) => ({
    name,
    perSecond: Math.round(median(perSecond.get(name)!)),
    ratio: median(ratios.get(name)!)
  }))
}

// B: a herd at expiry.
const blockB = async (callers: number, turn: number) => {
  log(`B: herd of ${callers}`)
  await rpc("configure", { settings: { reuseDetection: false } })
  const rows = []
  for (const peer of rotate(peers, turn)) {
    const factory = await peer.make(base)
    const row = await shifted(() =>
      quiet(async () => {
        const client = await factory.client(await grant(), "herd")
        offset += TWO_HOURS
        const before = await rpc<Stats>("stats")
        const settled = await Promise.allSettled(Array.from({ length: callers }, () => client.getToken()))
        const after = await rpc<Stats>("stats")
        return {
          name: peer.name,
          tokenCalls: after.tokenCalls - before.tokenCalls,
          failures: settled.filter((result) => result.status === "rejected").length
        }
      })
    )
    await factory.dispose()
    rows.push(row)
  }
  return rows
}

// C: the cost of a cached token to a Promise caller.
const blockC = async () => {
  log("C: cached token")
  const fx = await makeTokenfx(base)
  await fx.set(await grant(), "c")
  const getInFiber = Effect.gen(function*() {
    for (let i = 0; i < sizes.calls; i++) yield* fx.manager.get("c")
  })
  const runners: Array<{ name: string; run: () => Promise<void> }> = [{
    name: "tokenfx get (in a fiber)",
    run: async () => fx.runtime.runSync(getInFiber)
  }, {
    name: "tokenfx runtime.runPromise(get)",
    run: async () => {
      for (let i = 0; i < sizes.calls; i++) await fx.runtime.runPromise(fx.manager.get("c"))
    }
  }]
  const factories: Array<Factory> = []
  for (const peer of peers) {
    const factory = await peer.make(base)
    factories.push(factory)
    const client = await factory.client(await grant(), "c")
    runners.push({
      name: peer === peers[0] ? "tokenfx getToken (Promise facade)" : peer.name,
      run: async () => {
        for (let i = 0; i < sizes.calls; i++) await client.getToken()
      }
    })
  }
  const nanos = new Map<string, Array<number>>()
  for (let round = 0; round < sizes.rounds; round++) {
    for (const runner of rotate(runners, round)) {
      const start = process.hrtime.bigint()
      await runner.run()
      nanos.set(runner.name, [...(nanos.get(runner.name) ?? []), seconds(start) * 1e9 / sizes.calls])
    }
  }
  for (const factory of factories) await factory.dispose()
  await fx.runtime.dispose()
  return runners.map(({ name }) => ({ name, ns: median(nanos.get(name)!) }))
}

// D: rotation under concurrency: do grants survive two expiries with 50 callers each?
const blockD = async (reuseDetection: boolean, turn: number) => {
  log(`D: rotation, reuse detection ${reuseDetection ? "on" : "off"}`)
  await rpc("configure", { settings: { reuseDetection } })
  const rows = []
  for (const peer of rotate(peers, turn)) {
    const factory = await peer.make(base)
    const row = await shifted(() =>
      quiet(async () => {
        const before = await rpc<Stats>("stats")
        const clients = await Promise.all(
          Array.from({ length: sizes.grants }, async (_, i) => factory.client(await grant(), `grant-${i}`))
        )
        offset += TWO_HOURS
        await Promise.all(
          clients.map((client) => Promise.allSettled(Array.from({ length: sizes.waves }, () => client.getToken())))
        )
        offset += TWO_HOURS
        const second = await Promise.allSettled(clients.map((client) => client.getToken()))
        const after = await rpc<Stats>("stats")
        return {
          name: peer.name,
          deadGrants: second.filter((result) => result.status === "rejected").length,
          grants: sizes.grants,
          tokenCalls: after.tokenCalls - before.tokenCalls,
          invalidGrant: after.invalidGrant - before.invalidGrant
        }
      })
    )
    await factory.dispose()
    rows.push(row)
  }
  await rpc("configure", { settings: { reuseDetection: false } })
  return rows
}

// Bytes per key, each peer in fresh processes of its own (see keyBytes.ts), median of as many as there
// are rounds. Below 1,000 keys the figure would be mostly the heap's noise.
const keyBytes = async (peer: string, keys: number): Promise<number | undefined> => {
  if (keys < 1_000) return undefined
  const runs: Array<number> = []
  for (let run = 0; run < sizes.rounds; run++) {
    const { stdout } = await execFile(process.execPath, [
      "--expose-gc",
      "--max-old-space-size=8192",
      "--import",
      "tsx",
      Path.join(here, "keyBytes.ts"),
      peer,
      String(keys),
      base
    ], { encoding: "utf8", maxBuffer: 1 << 20 })
    runs.push(Number(stdout))
  }
  return median(runs)
}

// keys: ns per cached get with `keys` keys (tokens made beforehand, not counted), and bytes per key.
const blockKeys = async (keys: number, turn: number) => {
  log(`keys: ${keys}`)
  const { names, tokens } = keyTokens(keys)
  const calls = Math.max(sizes.calls, keys)
  const rows = []
  for (const peer of rotate(peers, turn)) {
    let factory: Factory | undefined = await peer.make(base)
    // As an application finds a user's client: by key, in a map (tokenfx's manager is that map).
    let clients: Map<string, { getToken: () => Promise<unknown> }> | undefined = new Map()
    for (let i = 0; i < keys; i++) clients.set(names[i]!, await factory.client(tokens[i]!, names[i]!))
    const direct = factory.getToken
    const rounds: Array<number> = []
    for (let round = 0; round < 3; round++) {
      const start = process.hrtime.bigint()
      if (direct !== undefined) {
        for (let i = 0; i < calls; i++) await direct(names[i % keys]!)
      } else {
        for (let i = 0; i < calls; i++) await clients.get(names[i % keys]!)!.getToken()
      }
      rounds.push(seconds(start) * 1e9 / calls)
    }
    await factory.dispose()
    clients = undefined
    factory = undefined
    const bytes = await keyBytes(peer.name, keys)
    rows.push({ name: peer === peers[0] ? "tokenfx getToken (Promise facade)" : peer.name, ns: median(rounds), bytes })
  }
  // tokenfx inside a fiber, its own manager.
  const fx = await makeTokenfx(base)
  for (let i = 0; i < keys; i++) await fx.set(tokens[i]!, names[i]!)
  const loop = Effect.gen(function*() {
    for (let i = 0; i < calls; i++) yield* fx.manager.get(names[i % keys]!)
  })
  const rounds: Array<number> = []
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint()
    fx.runtime.runSync(loop)
    rounds.push(seconds(start) * 1e9 / calls)
  }
  await fx.runtime.dispose()
  rows.push({ name: "tokenfx get (in a fiber)", ns: median(rounds), bytes: undefined })
  return rows
}

const loadBefore = Os.loadavg()
const started = new RealDate()
const a = await blockA()
const c = await blockC()
const b: Array<{ callers: number; rows: Awaited<ReturnType<typeof blockB>> }> = []
for (const [i, callers] of sizes.herds.entries()) b.push({ callers, rows: await blockB(callers, i + 1) })
const d = [
  { reuseDetection: false, rows: await blockD(false, 2) },
  { reuseDetection: true, rows: await blockD(true, 3) }
]
const keyed: Array<{ keys: number; rows: Awaited<ReturnType<typeof blockKeys>> }> = []
for (const [i, keys] of sizes.keys.entries()) keyed.push({ keys, rows: await blockKeys(keys, i) })
log("stores")
const stores = await blockStores(sizes.writes)
log("fleet")
const fleet = await blockFleet({
  base,
  ...sizes.fleet,
  grant,
  stats: () => rpc<Stats>("stats"),
  configure: (settings) => rpc("configure", { settings })
})
child.disconnect()
await dropPgTables()

const cpus = Os.cpus()
const results = {
  machine: `${cpus[0]?.model ?? "unknown"} x${cpus.length}, ${
    Math.round(Os.totalmem() / 2 ** 30)
  } GiB, ${Os.platform()}`,
  node: process.version,
  date: started.toISOString(),
  loadAverage: {
    before: loadBefore.map((x) => Number(x.toFixed(2))),
    after: Os.loadavg().map((x) => Number(x.toFixed(2)))
  },
  versions: Object.fromEntries(peers.map((peer) => [peer.name, peer.version])),
  settings: { ...sizes, tokenLatencyMs: 5, accessTokenLifetime: 3600 },
  hotPath: a,
  cached: c,
  herd: b,
  rotation: d,
  keys: keyed,
  stores,
  fleet
}

const n0 = (x: number) => Math.round(x).toLocaleString("en-US")
const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) =>
  [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)]
    .join("\n")
const peerNames = peers.map((peer) => peer.name)
const markdown = [
  `Machine: ${results.machine}; Node ${results.node}; ${
    results.date.slice(0, 16).replace("T", " ")
  } UTC; load average ` +
  `${results.loadAverage.before[0]} before, ${results.loadAverage.after[0]} after. Versions: ` +
  peers.slice(1).map((peer) => `${peer.name} ${peer.version}`).join(", ") + ".",
  "",
  `**A. Hot path**: authorized GETs per second with a cached token, ${sizes.concurrency} in flight, ` +
  `median of ${sizes.rounds} rounds; ratio to raw \`fetch\` within each round.`,
  "",
  table(["client", "GETs/s", "ratio to raw fetch"], a.map((r) => [r.name, n0(r.perSecond), r.ratio.toFixed(2)])),
  "",
  `**B. Herd at expiry**: callers asking at once for a token that has just expired; token endpoint calls and ` +
  `failed callers (rotation on, no reuse detection, ${results.settings.tokenLatencyMs} ms per token call).`,
  "",
  table(
    ["library", ...b.map((h) => `${n0(h.callers)} callers: calls / failures`)],
    peerNames.map((name) => [
      name,
      ...b.map((h) => {
        const row = h.rows.find((r) => r.name === name)!
        return `${n0(row.tokenCalls)} / ${n0(row.failures)}`
      })
    ])
  ),
  "",
  `**C. Cached token**: ns per call from a Promise caller (awaited), median of ${sizes.rounds} rounds.`,
  "",
  table(["call", "ns"], c.map((r) => [r.name, n0(r.ns)])),
  "",
  `**D. Rotation under concurrency**: ${sizes.grants} grants, ${sizes.waves} callers each at an expiry, then ` +
  `one caller at the next: grants dead after it (and \`invalid_grant\` answers).`,
  "",
  table(
    ["library", "no reuse detection", "reuse detection"],
    peerNames.map((name) => [
      name,
      ...d.map((mode) => {
        const row = mode.rows.find((r) => r.name === name)!
        return `${row.deadGrants} of ${row.grants} dead (${n0(row.invalidGrant)})`
      })
    ])
  ),
  "",
  `**Keys**: ns per cached get cycling through every key (each library's client found by key in a \`Map\`, as an ` +
  `application would; tokenfx's manager is keyed itself), and bytes per key held (the library's objects, and ` +
  `tokenfx's manager and memory store; the token strings themselves not counted), each peer measured in fresh ` +
  `processes of its own after 1,000 keys' warm-up, median of ${sizes.rounds}.`,
  "",
  table(
    ["library", ...keyed.map((k) => `${n0(k.keys)} keys: ns / bytes`)],
    keyed[0]!.rows.map(({ name }) => [
      name,
      ...keyed.map((k) => {
        const row = k.rows.find((r) => r.name === name)!
        return `${n0(row.ns)} / ${row.bytes === undefined ? "—" : n0(row.bytes)}`
      })
    ])
  ),
  "",
  `**Stores**: tokenfx's compare-and-set per second, one writer, each write the next version of one key.`,
  "",
  table(
    ["store", "compare-and-set per second"],
    stores.map((row) => [row.name, row.perSecond === undefined ? (row.note ?? "—") : n0(row.perSecond)])
  ),
  "",
  `**Fleet**: ${sizes.fleet.processes} processes, each its own \`TokenManager\`, sharing one store and one grant ` +
  `(2-second access tokens, rotation, reuse detection) for ${sizes.fleet.seconds} s, each asking for the token ` +
  `about once a millisecond: token calls per rotation, \`invalid_grant\` answers, \`getToken\` latency across the fleet.`,
  "",
  table(
    ["store", "token calls / rotations", "invalid_grant", "gets (failed)", "get p50 / p99 / max (µs)"],
    fleet.map((row) =>
      "skipped" in row
        ? [row.name, `skipped: ${row.skipped}`, "", "", ""]
        : [
          row.name,
          `${row.tokenCalls} / ${row.rotations}`,
          String(row.invalidGrant),
          `${n0(row.gets)} (${row.failures})`,
          `${row.p50.toFixed(1)} / ${n0(row.p99)} / ${n0(row.max)}`
        ]
    )
  ),
  ""
].join("\n")

process.stdout.write(markdown)
if (!quick) {
  const dir = Path.join(here, "..", "..", "results")
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, "peers.json"), JSON.stringify(results, null, 2) + "\n")
  Fs.writeFileSync(Path.join(dir, "peers.md"), `# tokenfx beside its peers\n\n${markdown}`)
  const readme = Path.join(here, "..", "..", "..", "README.md")
  const text = Fs.readFileSync(readme, "utf8")
  const start = "<!-- peers:start -->"
  const end = "<!-- peers:end -->"
  if (text.includes(start) && text.includes(end)) {
    Fs.writeFileSync(
      readme,
      text.slice(0, text.indexOf(start) + start.length) + `\n${markdown}\n` + text.slice(text.indexOf(end))
    )
  }
}
process.exit(0)
