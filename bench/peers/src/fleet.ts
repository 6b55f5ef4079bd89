/**
 * The fleet block: 8 processes, each its own `TokenManager`, sharing one store (file, SQLite,
 * PostgreSQL) and one grant at the loopback server (2-second access tokens, rotation, reuse detection),
 * for a few seconds of real time: token calls, rotations, `invalid_grant` answers, and the latency of
 * `getToken` across the fleet (p50, p99).
 */
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Url from "node:url"
import type { TokenJson } from "./peers.js"
import { storeLayers } from "./stores.js"

interface Stats {
  readonly tokenCalls: number
  readonly invalidGrant: number
  readonly reuse: number
}

const here = Path.dirname(Url.fileURLToPath(import.meta.url))

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

export const blockFleet = async (options: {
  readonly base: string
  readonly processes: number
  readonly seconds: number
  readonly grant: () => Promise<TokenJson>
  readonly stats: () => Promise<Stats>
  readonly configure: (settings: object) => Promise<unknown>
}) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-fleet-"))
  const rows = []
  await options.configure({ reuseDetection: true, expiresIn: 2 })
  try {
    for (const { layer, name } of storeLayers(dir).filter((store) => store.name !== "memory")) {
      const key = `fleet-${name}-${process.pid}`
      const token = await options.grant()
      const written = await Effect.runPromise(
        Effect.flatMap(TokenStore.TokenStore, (store) =>
          store.set(
            key,
            Token.make({
              access_token: Redacted.make(token.access_token),
              token_type: token.token_type,
              expires_in: token.expires_in,
              refresh_token: Redacted.make(token.refresh_token)
            }, Date.now())
          )).pipe(Effect.provide(layer), Effect.either, Effect.scoped)
      )
      if (written._tag === "Left") {
        rows.push({ name, skipped: "not reachable" as const })
        continue
      }
      const before = await options.stats()
      const children = Array.from({ length: options.processes }, () => {
        const child = ChildProcess.spawn(process.execPath, ["--import", "tsx", Path.join(here, "fleetWorker.ts")], {
          env: { ...process.env, FLEET_DIR: dir, FLEET_STORE: name, FLEET_BASE: options.base, FLEET_KEY: key },
          stdio: ["pipe", "pipe", "inherit"]
        })
        let out = ""
        const ready = new Promise<void>((resolve) =>
          child.stdout.on("data", (chunk: Buffer) => {
            out += chunk.toString("utf8")
            if (out.startsWith("READY\n")) resolve()
          })
        )
        const report = new Promise<{ gets: number; failures: number; latencies: Array<number> }>((resolve, reject) =>
          child.on(
            "exit",
            (code) => code === 0 ? resolve(JSON.parse(out.slice("READY\n".length))) : reject(new Error(`exit ${code}`))
          )
        )
        return { child, ready, report }
      })
      // Every process starts at the same instant, once all are up.
      await Promise.all(children.map((c) => c.ready))
      const start = Date.now() + 200
      for (const { child } of children) {
        child.stdin.end(`${JSON.stringify({ start, end: start + options.seconds * 1_000 })}\n`)
      }
      const reports = await Promise.all(children.map((c) => c.report))
      const after = await options.stats()
      const latencies = reports.flatMap((report) => report.latencies).sort((a, b) => a - b)
      rows.push({
        name,
        tokenCalls: after.tokenCalls - before.tokenCalls,
        invalidGrant: after.invalidGrant - before.invalidGrant,
        reuse: after.reuse - before.reuse,
        rotations: after.tokenCalls - before.tokenCalls - (after.invalidGrant - before.invalidGrant),
        gets: latencies.length,
        failures: reports.reduce((sum, report) => sum + report.failures, 0),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
        max: latencies.at(-1) ?? Number.NaN
      })
    }
  } finally {
    await options.configure({ reuseDetection: false, expiresIn: 3600 })
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}
