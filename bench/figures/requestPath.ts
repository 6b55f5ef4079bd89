/**
 * What an authorized request costs in CPU, layer by layer, with the network taken out: every client
 * sends to one in-memory `fetch` that answers at once with a small 200 and the headers a loopback
 * resource sends, so the figures are each layer's own work, steadier than throughput over loopback.
 * Run with `pnpm bench` (which passes --expose-gc); results go to bench/results/request-path.{md,json}.
 *
 * Each round sends the same number of requests through every client, 16 in flight, each body read, in
 * an order rotated from round to round; the figure is the median over rounds of the process's CPU time
 * (user and system) per request, collections included.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
// Internal modules, measured alone: what tokenfx adds to each request it sends through the platform.
import * as requestSettings from "../../packages/http/src/internal/requestSettings.js"
import * as scrub from "../../packages/http/src/internal/scrub.js"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

const quick = process.argv.includes("--quick")
const requests = quick ? 2_000 : 10_000
const rounds = quick ? 3 : 7
const concurrency = 16
const origin = "http://127.0.0.1:8080"
const url = `${origin}/resource`
const accessToken = "at-request-path-0123456789"

// What a `node:http` resource on loopback answers: the same headers, a small JSON body.
const fakeFetch = (async () =>
  new Response("{\"ok\":true}", {
    status: 200,
    headers: {
      "content-type": "application/json",
      "content-length": "11",
      date: "Sun, 06 Dec 2026 06:00:00 GMT",
      connection: "keep-alive",
      "keep-alive": "timeout=5"
    }
  })) as unknown as typeof globalThis.fetch

const source = TokenSource.make(() => Effect.dieMessage("no refresh expected"), { requiresRefreshToken: false })
const runtime = ManagedRuntime.make(
  TokenManager.layerWithSource().pipe(
    Layer.provide(TokenStore.layerMemory),
    Layer.provide(Layer.succeed(TokenSource.TokenSource, source)),
    Layer.provideMerge(FetchHttpClient.layer),
    Layer.provideMerge(Layer.succeed(FetchHttpClient.Fetch, fakeFetch))
  )
)
const manager = await runtime.runPromise(TokenManager.TokenManager)
await runtime.runPromise(
  manager.set("k", Token.make({ access_token: Redacted.make(accessToken), expires_in: 3600 }, Date.now()))
)
const platform = await runtime.runPromise(HttpClient.HttpClient)
const byHand = HttpClient.mapRequest(platform, HttpClientRequest.bearerToken(accessToken))
const guarded = requestSettings.sendGuarded(() => undefined)
const clients = {
  platform: byHand,
  settings: HttpClient.transform(byHand, (effect) => guarded(effect)),
  authorized: AuthorizedClient.authorize(platform, manager, { key: "k", origin })
}
const tokens = TokenManagerPromise.fromRuntime(await runtime.runtime())
const authorizedFetch = tokens.authorizedFetch({ key: "k", origin, fetch: fakeFetch })

// `concurrency` fibers, each sending its requests one after another, as a Promise pool does.
const fibers = (client: HttpClient.HttpClient.With<unknown>) =>
  Effect.suspend(() => {
    let started = 0
    const one = Effect.flatMap(client.get(url), (response) => response.arrayBuffer)
    const worker = Effect.whileLoop({
      while: () => started < requests,
      body: () => {
        started++
        return one
      },
      step: () => {}
    })
    return Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
  })

const pool = async (send: () => Promise<Response>) => {
  let started = 0
  const worker = async () => {
    while (started < requests) {
      started++
      await (await send()).arrayBuffer()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
}

const modes: ReadonlyArray<readonly [string, () => Promise<unknown>]> = [
  [
    "raw fetch, token set by hand",
    () => pool(() => fakeFetch(url, { headers: { authorization: `Bearer ${accessToken}` } }))
  ],
  ["tokenfx authorizedFetch (Promise facade)", () => pool(() => authorizedFetch(url))],
  [
    "@effect/platform FetchHttpClient in a fiber, token set by hand",
    () => runtime.runPromise(fibers(clients.platform))
  ],
  [
    "the same, tracing off (no client span)",
    () => runtime.runPromise(Effect.withTracerEnabled(fibers(clients.platform), false))
  ],
  [
    "the same, tracing on, with tokenfx's request settings swapped in and out per request",
    () => runtime.runPromise(fibers(clients.settings))
  ],
  ["tokenfx AuthorizedClient in a fiber", () => runtime.runPromise(fibers(clients.authorized))]
]

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

for (const [, run] of modes) await run()
const cpu: Record<string, Array<number>> = {}
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < modes.length; i++) {
    const [name, run] = modes[(i + round) % modes.length]!
    gc()
    const before = process.cpuUsage()
    await run()
    const used = process.cpuUsage(before)
    ;(cpu[name] ??= []).push((used.user + used.system) / requests)
  }
}

// Nanoseconds per call of `f`, in a tight loop, median of rounds.
const perCall = (calls: number, f: () => unknown) => {
  const times: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) f()
    times.push(Number(process.hrtime.bigint() - start) / calls)
  }
  return median(times)
}
const swapCalls = quick ? 20_000 : 200_000
const loop = (wrap: (effect: Effect.Effect<void>) => Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    for (let i = 0; i < swapCalls; i++) yield* wrap(Effect.void)
  })
const inFiber = (wrap: (effect: Effect.Effect<void>) => Effect.Effect<void, unknown>) => {
  runtime.runSync(loop(wrap))
  return perCall(1, () => runtime.runSync(loop(wrap))) / swapCalls
}
const requestHeaders = Headers.fromInput({ authorization: `Bearer ${accessToken}`, traceparent: "00-0-0-01" })
const responseHeaders = Headers.fromInput({
  "content-type": "application/json",
  "content-length": "11",
  date: "Sun, 06 Dec 2026 06:00:00 GMT",
  connection: "keep-alive",
  "keep-alive": "timeout=5"
})
// The platform's default names (`Headers.currentRedactedNames`).
const defaultNames = ["authorization", "cookie", "set-cookie", "x-api-key"]
const safeOnly = [...defaultNames, scrub.unsafeHeader]
// The platform's client span records both header sets, redacted with the names in force.
const redact = (names: ReadonlyArray<string | RegExp>) => () => {
  Headers.redact(requestHeaders, names)
  Headers.redact(responseHeaders, names)
}

const isolated = {
  "an effect run in a fiber, alone (ns)": inFiber((effect) => effect),
  "the same with tokenfx's request settings swapped in and out (ns)": inFiber(guarded),
  "span headers redacted with the platform's default names, per request (ns)": perCall(200_000, redact(defaultNames)),
  "span headers redacted to the safe ones (tokenfx's names), per request (ns)": perCall(200_000, redact(safeOnly))
}
await runtime.dispose()

const results = {
  machine: `${Os.cpus()[0]?.model ?? "unknown"} x${Os.cpus().length}, ${Math.round(Os.totalmem() / 2 ** 30)} GiB`,
  node: process.version,
  date: new Date().toISOString().slice(0, 10),
  loadAverage: Os.loadavg().map((x) => Number(x.toFixed(2))),
  settings: { requests, rounds, concurrency },
  cpuPerRequest: Object.fromEntries(modes.map(([name]) => [name, median(cpu[name]!)])),
  isolated
}

const raw = results.cpuPerRequest[modes[0]![0]]!
const rows = modes.map(([name]) => {
  const value = results.cpuPerRequest[name]!
  return `| ${name} | ${value.toFixed(1)} | ${(value - raw).toFixed(1)} |`
})
const markdown = [
  `# The request path, layer by layer`,
  ``,
  `${results.machine}; Node ${results.node}; ${results.date}; load average ${results.loadAverage[0]} after.`,
  `CPU time of the process per request (user and system, collections included), median of ${rounds} rounds of`,
  `${requests.toLocaleString("en-US")} requests, ${concurrency} in flight, each body read. Every client sends to one`,
  `in-memory \`fetch\` that answers at once, so no network is measured; over loopback each request costs a real`,
  `\`fetch\` more (see peers.md, block A).`,
  ``,
  `| client | CPU µs per request | over raw fetch |`,
  `| --- | --- | --- |`,
  ...rows,
  ``,
  `Alone, in a tight loop (medians of ${rounds} rounds):`,
  ``,
  `| what | ns |`,
  `| --- | --- |`,
  ...Object.entries(isolated).map(([name, value]) => `| ${name.replace(/ \(ns\)$/, "")} | ${value.toFixed(0)} |`),
  ``
].join("\n")
process.stdout.write(markdown)
if (!quick) {
  const dir = Path.join(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "results")
  Fs.mkdirSync(dir, { recursive: true })
  Fs.writeFileSync(Path.join(dir, "request-path.json"), JSON.stringify(results, null, 2) + "\n")
  Fs.writeFileSync(Path.join(dir, "request-path.md"), markdown)
}
