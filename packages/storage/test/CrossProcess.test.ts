/**
 * Several application instances, each its own Node process with its own `TokenManager`, share one
 * store (a directory, a SQLite file, a PostgreSQL table) and one grant at a real authorization server
 * (oidc-provider, 2-second access tokens, refresh token rotation with whole-grant revocation on reuse).
 * Through a few expiries: exactly one refresh per expiry, no `invalid_grant`, no failed request. Then
 * one instance is killed while it holds the refresh lease, and the others take over.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { afterAll, assert, layer } from "@effect/vitest"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { spawn, within } from "./utils/children.js"
import * as Layers from "./utils/layers.js"
import { login } from "./utils/login.js"
import * as Postgres from "./utils/postgres.js"

const processes = 4
const leaseTtl = 3_000
const runMillis = 10_000
const hangAfter = 3_500
const key = "alice@example.com"

interface StoreUnderTest {
  /** What children get in TOKENFX_XP_STORE. */
  readonly spec: string
  /** The same store, for the test process. */
  readonly layer: Layer.Layer<TokenStore.TokenStore, unknown>
  /** Whether a dead holder's lease is taken over at once (same host, pid gone) or at its deadline. */
  readonly takeover: "immediate" | "deadline"
}

const count = (record: Readonly<Record<string, number>>, name: string) => record[name] ?? 0

const scenario = (storeUnderTest: StoreUnderTest) =>
  Effect.gen(function*() {
    // One login; the children find its token (and its refresh token) in the shared store.
    const { client, initial, server, store } = yield* login(key)
    const before = yield* server.stats

    const env = {
      TOKENFX_XP_STORE: storeUnderTest.spec,
      TOKENFX_XP_KEY: key,
      TOKENFX_XP_TOKEN_ENDPOINT: server.tokenEndpoint,
      TOKENFX_XP_RESOURCE: server.resourceUrl,
      TOKENFX_XP_CLIENT_ID: client.clientId,
      TOKENFX_XP_CLIENT_SECRET: Redacted.value(client.clientSecret!),
      TOKENFX_XP_LEASE_TTL: String(leaseTtl),
      TOKENFX_PG_URL: Postgres.url
    }
    const children = Array.from(
      { length: processes },
      (_, i) => spawn({ ...env, TOKENFX_XP_ROLE: i === processes - 1 ? "victim" : "worker" })
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((child) => child.process.kill("SIGKILL"))))
    const victim = children[processes - 1]
    const survivors = children.slice(0, -1)

    const outcome = yield* Effect.promise(async () => {
      await within(Promise.all(children.map((child) => child.ready)), 30_000, "the children to start").catch((e) => {
        throw new Error(`${e.message}\n${children.map((child) => child.stderr()).join("\n")}`)
      })
      const start = Date.now()
      const go = JSON.stringify({ endAt: start + runMillis, hangAt: start + hangAfter })
      for (const child of children) child.process.stdin!.write(`${go}\n`)

      const heldAt = await within(victim.holding, hangAfter + 6_000, "the victim to hold the lease")
      victim.process.kill("SIGKILL")
      await victim.exited
      const killedAt = Date.now()
      const versionAtKill = Option.getOrThrow(await Effect.runPromise(store.get(key))).version
      // The first write after the kill: someone took the lease over and refreshed.
      let takenOverAt: number | undefined
      while (takenOverAt === undefined && Date.now() < start + runMillis) {
        const current = Option.getOrThrow(await Effect.runPromise(store.get(key)))
        if (current.version > versionAtKill) takenOverAt = Date.now()
        else await new Promise((resolve) => setTimeout(resolve, 25))
      }
      const reports = await within(Promise.all(survivors.map((child) => child.report)), 20_000, "the reports")
      return { start, heldAt, killedAt, takenOverAt, reports }
    })

    const after = yield* server.stats
    const final = Option.getOrThrow(yield* store.get(key))
    const refreshes = count(after.tokenRequests, "refresh_token") - count(before.tokenRequests, "refresh_token")

    for (const [i, report] of outcome.reports.entries()) {
      assert.isDefined(report, `child ${i} reported (stderr: ${survivors[i].stderr()})`)
      assert.deepStrictEqual(report!.failures, [], `child ${i} had failures`)
      assert.isAbove(report!.gets, 20, `child ${i} kept asking`)
      assert.isAtLeast(report!.distinctTokens, 3, `child ${i} went through several tokens`)
    }
    assert.strictEqual(count(after.grantErrors, "invalid_grant") - count(before.grantErrors, "invalid_grant"), 0)
    // One refresh per expiry: every refresh the server granted became exactly one stored version (no
    // refresh token was ever presented twice, or the server would have answered invalid_grant), and
    // there were no more refreshes than expiries. oidc-provider counts lifetimes in whole seconds, so
    // its 2-second tokens live between 1 and 2 seconds.
    assert.strictEqual(final.version - initial.version, refreshes, "each refresh stored once, none lost")
    assert.isAtLeast(refreshes, 3)
    assert.isAtMost(refreshes, Math.ceil(runMillis / 1_000) + 1)

    // The kill: the others took the lease over, at once when they could tell the holder was dead,
    // else at the lease's deadline.
    assert.isDefined(outcome.takenOverAt, "someone refreshed after the lease holder was killed")
    const waited = outcome.takenOverAt! - outcome.heldAt
    if (storeUnderTest.takeover === "deadline") {
      assert.isAtLeast(waited, leaseTtl - 250, `taken over ${waited} ms after the lease was taken`)
    } else {
      assert.isBelow(waited, leaseTtl, `taken over ${waited} ms after the lease was taken`)
    }
    console.info(
      `[storage] cross-process ${storeUnderTest.spec.split(":")[0]}: ${refreshes} refreshes, ${
        outcome.reports.map((r) => r!.gets).join("/")
      } gets, lease taken over ${waited} ms after the killed holder took it`
    )
  }).pipe(Effect.provide(Layer.merge(storeUnderTest.layer, NodeHttpClient.layerUndici)))

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-xp-"))
afterAll(() => Fs.rmSync(work, { recursive: true, force: true }))

const fileDirectory = Path.join(work, "tokens")
const sqliteFile = Path.join(work, "tokens.db")

const pgTable = Postgres.uniqueTable("xp")

layer(OidcProvider.layer({ accessTokenTtl: 2 }), { excludeTestServices: true })("cross-process", (it) => {
  it.scoped("4 processes share a file store", () =>
    scenario({
      spec: `file:${fileDirectory}`,
      layer: FileTokenStore.layerFileSystem(fileDirectory).pipe(Layer.provide(Layers.NodeLayer)),
      takeover: "immediate"
    }), 60_000)

  it.scoped("4 processes share a SQLite file", () =>
    scenario({
      spec: `sqlite:${sqliteFile}`,
      layer: SqlTokenStore.layerSql().pipe(Layer.provide(SqliteClient.layer({ filename: sqliteFile }))),
      takeover: "deadline"
    }), 60_000)

  if (Postgres.unavailable === undefined) {
    afterAll(() => Postgres.dropTables(pgTable, SqlTokenStore.migrationsTable(pgTable)))
    it.scoped("4 processes share a PostgreSQL table", () =>
      scenario({
        spec: `pg:${pgTable}`,
        layer: Layers.postgres(Postgres.url, pgTable),
        takeover: "deadline"
      }), 60_000)
  }
})

if (Postgres.unavailable !== undefined) {
  // Fails with TOKENFX_REQUIRE_PG=1, else says that the PostgreSQL case was skipped and why.
  Postgres.whenAvailable("cross-process: PostgreSQL", () => {})
}
