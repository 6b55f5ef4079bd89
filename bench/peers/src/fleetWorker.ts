/**
 * One process of the fleet block (run by fleet.ts with `node --import tsx`): a `TokenManager` over the
 * shared store named in FLEET_STORE (`file`, `SQLite`, `PostgreSQL` under FLEET_DIR) and the loopback
 * token endpoint FLEET_BASE, asking for FLEET_KEY's token through the Promise facade about once a
 * millisecond. Prints `READY`, reads one line `{ "start": <epoch ms>, "end": <epoch ms> }`, runs from start to
 * end and prints one JSON line: gets, failures, get latencies (µs).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Readline from "node:readline"
import { CLIENT_ID, CLIENT_SECRET } from "./client.js"
import { storeLayers } from "./stores.js"

const env = (name: string) => process.env[name] ?? ""
const store = storeLayers(env("FLEET_DIR")).find((s) => s.name === env("FLEET_STORE"))!.layer
const runtime = ManagedRuntime.make(
  TokenManager.layer({ leaseTtl: "3 seconds" }).pipe(
    Layer.provide(store),
    Layer.provide(TokenEndpoint.layer({
      tokenEndpoint: `${env("FLEET_BASE")}/token`,
      clientId: CLIENT_ID,
      clientSecret: Redacted.make(CLIENT_SECRET)
    })),
    Layer.provide(FetchHttpClient.layer)
  )
)
const tokens = await runtime.runPromise(TokenManagerPromise.make)
process.stdout.write("READY\n")
const { end, start } = await new Promise<{ start: number; end: number }>((resolve) => {
  const lines = Readline.createInterface({ input: process.stdin })
  lines.once("line", (line) => {
    lines.close()
    resolve(JSON.parse(line))
  })
})
// Every process starts at the same instant.
await new Promise((resolve) => setTimeout(resolve, Math.max(0, start - Date.now())))
const latencies: Array<number> = []
let failures = 0
while (Date.now() < end) {
  const start = process.hrtime.bigint()
  try {
    await tokens.getToken(env("FLEET_KEY"))
  } catch {
    failures++
  }
  latencies.push(Number(process.hrtime.bigint() - start) / 1_000)
  await new Promise((resolve) => setTimeout(resolve, 1))
}
process.stdout.write(`${JSON.stringify({ gets: latencies.length, failures, latencies })}\n`)
await runtime.dispose()
process.exit(0)
