/**
 * The stores block: compare-and-set per second per store, one writer, each write the next version of
 * one key (what a refresh does under its lease). PostgreSQL is measured when `TOKENFX_PG_URL` (default
 * `postgres://postgres@127.0.0.1:5432/test`, as the tests use) answers, and reported as skipped
 * otherwise.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export const pgUrl = process.env["TOKENFX_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

const pgTable = "tokenfx_bench_peers"

const pgLayer = PgClient.layer({ url: Redacted.make(pgUrl), connectTimeout: "3 seconds" })

export const storeLayers = (dir: string): ReadonlyArray<{
  readonly name: string
  readonly layer: Layer.Layer<TokenStore.TokenStore, unknown>
}> => [
  { name: "memory", layer: TokenStore.layerMemory },
  {
    name: "file",
    layer: FileTokenStore.layerFileSystem(Path.join(dir, "files")).pipe(
      Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
    )
  },
  {
    name: "SQLite",
    layer: SqlTokenStore.layerSql().pipe(Layer.provide(SqliteClient.layer({ filename: Path.join(dir, "tokens.db") })))
  },
  {
    name: "PostgreSQL",
    layer: SqlTokenStore.layerSql({ table: pgTable }).pipe(Layer.provide(pgLayer))
  }
]

const casPerSecond = (writes: number) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const key = `bench-${process.pid}`
    const token = Token.make({
      access_token: Redacted.make("at-bench"),
      refresh_token: Redacted.make("rt-bench"),
      expires_in: 3600
    }, Date.now())
    let version = (yield* store.set(key, token)).version
    for (let i = 0; i < Math.min(50, writes); i++) {
      version = Option.getOrThrow(yield* store.compareAndSet(key, token, version)).version
    }
    const start = process.hrtime.bigint()
    for (let i = 0; i < writes; i++) {
      version = Option.getOrThrow(yield* store.compareAndSet(key, token, version)).version
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    yield* store.remove(key)
    return writes / seconds
  })

export const blockStores = async (writes: number) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-bench-"))
  const rows: Array<{ name: string; perSecond: number | undefined; note?: string }> = []
  try {
    for (const { layer, name } of storeLayers(dir)) {
      const result = await Effect.runPromise(
        casPerSecond(writes).pipe(Effect.provide(layer), Effect.either, Effect.scoped)
      )
      rows.push(
        result._tag === "Right"
          ? { name, perSecond: result.right }
          : { name, perSecond: undefined, note: "skipped: not reachable" }
      )
    }
  } finally {
    Fs.rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

/**
 * Drops the PostgreSQL tables the stores and fleet blocks made (the store's and its migrations'), so
 * that a run leaves the shared database as it found it. Nothing to do when PostgreSQL does not answer.
 */
export const dropPgTables = () =>
  Effect.runPromise(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`DROP TABLE IF EXISTS ${sql(pgTable)}`
      yield* sql`DROP TABLE IF EXISTS ${sql(SqlTokenStore.migrationsTable(pgTable))}`
    }).pipe(Effect.provide(pgLayer), Effect.scoped, Effect.ignore)
  )
