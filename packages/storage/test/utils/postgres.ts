/**
 * Where the PostgreSQL tests find their database (`TOKENFX_PG_URL`), whether it answers, and a
 * table name of their own per run, so that parallel runs never collide.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

export const url = process.env.TOKENFX_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** CI sets `TOKENFX_REQUIRE_PG=1`: a missing database then fails the tests instead of skipping them. */
export const required = process.env.TOKENFX_REQUIRE_PG === "1"

// The URL as printed: without its password.
const shown = (() => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.toString()
  } catch {
    return "(TOKENFX_PG_URL does not parse)"
  }
})()

/**
 * `undefined` when the database answers, else why not. This runs while the test file is being
 * collected, where no test timeout applies: a server that accepts the connection and never answers
 * must not hang the run, and the client's own connect timeout cannot interrupt its first query (it is
 * acquired uninterruptibly), so the probe is disconnected and given 10 s.
 */
export const unavailable: string | undefined = await Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`SELECT 1`
  return undefined
}).pipe(
  Effect.provide(PgClient.layer({ url: Redacted.make(url), connectTimeout: "3 seconds" })),
  Effect.scoped,
  Effect.disconnect,
  Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("no answer to SELECT 1 within 10 s") }),
  Effect.catchAllCause((cause) =>
    Effect.succeed(`PostgreSQL at ${shown} does not answer (${cause.toString().split("\n")[0]})`)
  ),
  Effect.runPromise
)

/**
 * Registers PostgreSQL tests when the database answers. When it does not: with
 * `TOKENFX_REQUIRE_PG=1` a failing test says why; otherwise a warning says they were skipped, and why.
 */
export const whenAvailable = (name: string, register: () => void): void => {
  if (unavailable !== undefined && required) {
    describe(name, () => {
      it("has a database (TOKENFX_REQUIRE_PG=1)", () => {
        throw new Error(unavailable)
      })
    })
    return
  }
  if (unavailable !== undefined) {
    console.warn(`[storage] SKIPPED ${name}: ${unavailable}. Set TOKENFX_PG_URL to a database to run them.`)
  }
  // Skipped tests are still listed by name, so the report shows exactly what did not run.
  describe.skipIf(unavailable !== undefined)(name, register)
}

/** A table name unique to this run. */
export const uniqueTable = (label: string): string =>
  `tokenfx_test_${label}_${process.pid}_${globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`

/** Drops the tables a run created. */
export const dropTables = (...tables: ReadonlyArray<string>): Promise<void> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const table of tables) yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
  }).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url) })),
    Effect.scoped,
    Effect.orDie,
    Effect.runPromise
  )
