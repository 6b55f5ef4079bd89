/**
 * A token store in one SQL table, through `@effect/sql`: SQLite (`@effect/sql-sqlite-node`, the
 * embedded default for one machine) and PostgreSQL (`@effect/sql-pg`, for a fleet of instances).
 *
 * One row per key: the key, the user id (derived from the key by `userId`, indexed), the payload,
 * its version, the access token's expiry (indexed), the refresh lease (owner and deadline) and the time
 * of the last write. `stats` counts the tokens by state, and per user with `byUser`, in one `GROUP BY`
 * query over `expires_at` and `user_id`, never reading a payload. Times are epoch milliseconds from `Clock`, so a fleet needs synchronized clocks (NTP).
 *
 * - Compare-and-set is a single conditional statement (`UPDATE … WHERE token_key = ? AND version = ?`,
 *   or an insert that only fills an empty row), atomic in the database across every process.
 * - A lease is a conditional update too: it is granted when the row has no lease, an expired one, or
 *   one held by the same owner.
 * - A removed token leaves its row, without payload, to keep the version (and any lease).
 * - A payload that does not decode stays in its row for inspection (`CorruptedToken` has no
 *   `movedTo`) until a write replaces it.
 * - A key that is not well-formed UTF-16 (a lone surrogate) is a `TokenStoreError`: the database would
 *   store it as UTF-8 with U+FFFD in its place, one row for many keys.
 * - Nothing is encrypted here: wrap `layerRaw` with `EncryptedTokenStore`, which binds each
 *   ciphertext to its key so rows cannot be swapped between users.
 *
 * The table is created by `@effect/sql`'s migrator (`migrations`, recorded in
 * `<table>_migrations`), run by `make` unless `migrate: false`.
 *
 * This module is not in the package barrel: import it as `@tokenfx/storage/SqlTokenStore`.
 *
 * @since 0.1.0
 */
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { beyondSafe, countRows, failure, maxVersion, toNumber, toVersion } from "./internal/sqlRows.js"
import { requireWellFormed } from "./internal/storeKey.js"
import * as RawTokenStore from "./RawTokenStore.js"

/**
 * Options of the SQL store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The table, schema-qualified if need be (`"auth.tokens"` in PostgreSQL). Default `"tokenfx_tokens"`. */
  readonly table?: string | undefined
  /** The user id stored (and indexed) with each key. Default: the key itself. */
  readonly userId?: ((key: string) => string) | undefined
  /** Run the migrations when the store is made. Default `true`. */
  readonly migrate?: boolean | undefined
}

const defaultTable = "tokenfx_tokens"

const tableOf = (options?: Options) => options?.table ?? defaultTable

/**
 * The table in which the migrator records the migrations it ran for `table`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrationsTable = (table: string = defaultTable): string => `${table}_migrations`

/**
 * The migrations that create the table, for `Migrator.fromRecord` (or a dialect's migrator layer,
 * with `migrate: false` on the store).
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrations = (
  options?: Pick<Options, "table">
): Record<string, Effect.Effect<void, SqlError, SqlClient.SqlClient>> => {
  const table = tableOf(options)
  // An index name is never schema-qualified; it lives in its table's schema.
  const bare = table.slice(table.lastIndexOf(".") + 1)
  const index = `${bare}_user_id`
  return {
    "1_create_tokens": Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      yield* sql`CREATE TABLE ${sql(table)} (
        token_key TEXT PRIMARY KEY NOT NULL,
        user_id TEXT NOT NULL,
        payload TEXT,
        version BIGINT NOT NULL,
        expires_at BIGINT,
        lease_owner TEXT,
        lease_deadline BIGINT,
        updated_at BIGINT NOT NULL
      )`
      yield* sql`CREATE INDEX ${sql(index)} ON ${sql(table)} (user_id)`
    }),
    // For `stats`: tokens by expiry (and tokens expired or due) without reading the payloads.
    "2_index_expires_at": Effect.gen(function*() {
      const sql = (yield* SqlClient.SqlClient).withoutTransforms()
      yield* sql`CREATE INDEX ${sql(`${bare}_expires_at`)} ON ${sql(table)} (expires_at)`
    })
  }
}

/**
 * Runs the migrations for the table (idempotent; safe when several processes start at once).
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrate = (
  options?: Pick<Options, "table">
): Effect.Effect<void, TokenStore.TokenStoreError, SqlClient.SqlClient> =>
  Migrator.make({})({
    loader: Migrator.fromRecord(migrations(options)),
    table: migrationsTable(tableOf(options))
  }).pipe(
    // Processes starting together can race to create the migrations table: the loser tries again.
    Effect.retry({ times: 3 }),
    Effect.mapError(failure("migrate")),
    Effect.catchAllDefect((defect) => Effect.fail(failure("migrate")(defect))),
    Effect.asVoid
  )

/**
 * A payload store in the table, on the `SqlClient` in context (SQLite or PostgreSQL).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<RawTokenStore.RawTokenStore["Type"], TokenStore.TokenStoreError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const supported = sql.onDialectOrElse({ sqlite: () => true, pg: () => true, orElse: () => false })
    if (!supported) {
      return yield* new TokenStore.TokenStoreError({
        operation: "open",
        description: "SqlTokenStore supports SQLite and PostgreSQL"
      })
    }
    if (options?.migrate ?? true) yield* migrate(options)
    const table = sql(tableOf(options))
    const userId = options?.userId ?? ((key: string) => key)

    const run = <A>(operation: string, key: string | undefined, query: Effect.Effect<A, SqlError>) =>
      Effect.mapError(query, failure(operation, key))

    const returnedVersion = (operation: string, key: string) => (rows: ReadonlyArray<{ readonly version: unknown }>) =>
      rows.length === 0 ? Effect.succeedNone : Effect.asSome(toVersion(operation, key)(rows[0].version))

    const upsert = (
      operation: string,
      key: string,
      payload: RawTokenStore.Payload,
      onlyIfEmpty: boolean,
      also: Statement.Fragment = sql``
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        run(
          operation,
          key,
          sql<{ readonly version: unknown }>`INSERT INTO ${table} AS t
            (token_key, user_id, payload, version, expires_at, updated_at)
            VALUES (${key}, ${userId(key)}, ${payload.data}, 1, ${payload.expiresAt ?? null}, ${now})
            ON CONFLICT (token_key) DO UPDATE SET
              payload = excluded.payload,
              version = t.version + 1,
              user_id = excluded.user_id,
              expires_at = excluded.expires_at,
              updated_at = excluded.updated_at
            WHERE t.version < ${maxVersion} ${onlyIfEmpty ? sql`AND t.payload IS NULL` : sql``} ${also}
            RETURNING version`
        ))

    // Why an insert that only fills an empty row changed nothing: the row is taken, or at the last version.
    const notInserted = (operation: string, key: string) =>
      run(
        operation,
        key,
        sql`SELECT version FROM ${table} WHERE token_key = ${key} AND payload IS NULL AND version >= ${maxVersion}`
      ).pipe(Effect.flatMap((rows) => rows.length === 0 ? Effect.succeedNone : Effect.fail(beyondSafe(operation, key))))

    // One query: the live rows grouped by state (and user), the state from `expires_at` alone, as
    // `TokenHealth.classifyExpiry` decides it.
    const stats = (options?: TokenStore.StatsOptions) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const due = now + Duration.toMillis(options?.refreshWindow ?? TokenStore.defaultStatsWindow)
        const byUser = options?.byUser === true
        return run(
          "stats",
          undefined,
          sql<{ readonly state: string; readonly user_id?: string; readonly n: unknown }>`SELECT
            CASE WHEN expires_at IS NULL OR expires_at > ${due} THEN 'fresh'
              WHEN expires_at > ${now} THEN 'refresh_window'
              ELSE 'expired' END AS state,
            ${byUser ? sql`user_id,` : sql``}
            COUNT(*) AS n
            FROM ${table} WHERE payload IS NOT NULL
            GROUP BY state${byUser ? sql`, user_id` : sql``}`
        ).pipe(Effect.map((rows) => countRows(rows, byUser)))
      })

    // The row's next version, if it is still at `version` and `stored` holds of it (a token, or a tombstone).
    const updateAt = (
      operation: string,
      key: string,
      payload: RawTokenStore.Payload,
      version: number,
      stored: Statement.Fragment
    ) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        run(
          operation,
          key,
          sql<{ readonly version: unknown }>`UPDATE ${table} SET
            payload = ${payload.data},
            version = version + 1,
            user_id = ${userId(key)},
            expires_at = ${payload.expiresAt ?? null},
            updated_at = ${now}
            WHERE token_key = ${key} AND version = ${version} AND ${stored}
            RETURNING version`
        ).pipe(Effect.flatMap(returnedVersion(operation, key))))

    const leaseRows = (operation: string, key: string, query: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
      Effect.map(run(operation, key, query), (rows) => rows.length > 0)

    return requireWellFormed(RawTokenStore.RawTokenStore.of({
      get: (key) =>
        run(
          "get",
          key,
          sql<{ readonly payload: string; readonly version: unknown }>`SELECT payload, version FROM ${table}
            WHERE token_key = ${key} AND payload IS NOT NULL`
        ).pipe(
          Effect.flatMap((rows) =>
            rows.length === 0
              ? Effect.succeedNone
              : Effect.map(
                toVersion("get", key)(rows[0].version),
                (version) => Option.some({ data: rows[0].payload, version })
              )
          )
        ),
      set: (key, payload) =>
        upsert("set", key, payload, false).pipe(
          Effect.flatMap(returnedVersion("set", key)),
          Effect.flatMap(Option.match({ onNone: () => Effect.fail(beyondSafe("set", key)), onSome: Effect.succeed }))
        ),
      compareAndSet: (key, payload, expected) =>
        expected === undefined
          ? upsert("compareAndSet", key, payload, true).pipe(
            Effect.flatMap(returnedVersion("compareAndSet", key)),
            Effect.flatMap((written): Effect.Effect<Option.Option<number>, TokenStore.TokenStoreError> =>
              Option.isSome(written) ? Effect.succeed(written) : notInserted("compareAndSet", key)
            )
          )
          : expected >= maxVersion
          ? Effect.fail(beyondSafe("compareAndSet", key))
          : updateAt("compareAndSet", key, payload, expected, sql`payload IS NOT NULL`),
      remove: (key, expected) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          run(
            "remove",
            key,
            sql`UPDATE ${table} SET payload = NULL, expires_at = NULL, updated_at = ${now}
              WHERE token_key = ${key} AND payload IS NOT NULL
              ${expected === undefined ? sql`` : sql`AND version = ${expected}`}
              RETURNING version`
          ).pipe(Effect.map((rows) => rows.length > 0))),
      // The row stays as it is, for inspection, until a write replaces it.
      quarantine: () => Effect.succeedNone,
      head: (key) =>
        run(
          "head",
          key,
          sql<{ readonly version: unknown; readonly stored: unknown }>`SELECT version,
            CASE WHEN payload IS NULL THEN 0 ELSE 1 END AS stored FROM ${table} WHERE token_key = ${key}`
        ).pipe(Effect.flatMap((rows) =>
          rows.length === 0
            ? Effect.succeed<RawTokenStore.Head>({ version: 0, stored: false })
            : Effect.map(
              toVersion("head", key)(rows[0].version),
              (version): RawTokenStore.Head => ({ version, stored: toNumber(rows[0].stored) === 1 })
            )
        )),
      // Version 0 may have no row yet (or a lease's row): an insert that only fills an empty row at 0.
      // Past 0 the row exists: an update of the tombstone at that version.
      compareAndSetRemoved: (key, payload, version) =>
        version >= maxVersion
          ? Effect.fail(beyondSafe("compareAndSetRemoved", key))
          : version === 0
          ? Effect.flatMap(
            upsert("compareAndSetRemoved", key, payload, true, sql`AND t.version = 0`),
            returnedVersion("compareAndSetRemoved", key)
          )
          : updateAt("compareAndSetRemoved", key, payload, version, sql`payload IS NULL`),
      keys: run(
        "keys",
        undefined,
        sql<{ readonly token_key: string }>`SELECT token_key FROM ${table} WHERE payload IS NOT NULL`
      ).pipe(Effect.map((rows) => rows.map((row) => row.token_key).sort())),
      stats,
      size: run(
        "size",
        undefined,
        sql<{ readonly n: unknown }>`SELECT COUNT(*) AS n FROM ${table} WHERE payload IS NOT NULL`
      ).pipe(Effect.map((rows) => rows.length === 0 ? 0 : toNumber(rows[0].n))),
      acquireLease: (key, owner, ttl) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          leaseRows(
            "acquireLease",
            key,
            sql`INSERT INTO ${table} AS t
              (token_key, user_id, payload, version, lease_owner, lease_deadline, updated_at)
              VALUES (${key}, ${userId(key)}, NULL, 0, ${owner}, ${now + Duration.toMillis(ttl)}, ${now})
              ON CONFLICT (token_key) DO UPDATE SET
                lease_owner = excluded.lease_owner,
                lease_deadline = excluded.lease_deadline
              WHERE t.lease_owner IS NULL OR t.lease_deadline <= ${now} OR t.lease_owner = ${owner}
              RETURNING token_key`
          )),
      renewLease: (key, owner, ttl) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          leaseRows(
            "renewLease",
            key,
            sql`UPDATE ${table} SET lease_deadline = ${now + Duration.toMillis(ttl)}
              WHERE token_key = ${key} AND lease_owner = ${owner} AND lease_deadline > ${now}
              RETURNING token_key`
          )),
      releaseLease: (key, owner) =>
        run(
          "releaseLease",
          key,
          sql`UPDATE ${table} SET lease_owner = NULL, lease_deadline = NULL
            WHERE token_key = ${key} AND lease_owner = ${owner}`
        ).pipe(Effect.asVoid)
    }))
  })

/**
 * The payload store in the table, for `EncryptedTokenStore` to wrap.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRaw = (
  options?: Options
): Layer.Layer<RawTokenStore.RawTokenStore, TokenStore.TokenStoreError, SqlClient.SqlClient> =>
  Layer.effect(RawTokenStore.RawTokenStore, make(options))

/**
 * The `TokenStore` in the table, unencrypted.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSql = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, TokenStore.TokenStoreError, SqlClient.SqlClient> =>
  RawTokenStore.layerTokenStore.pipe(Layer.provide(layerRaw(options)))
