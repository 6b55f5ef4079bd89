import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import * as SqliteMigrator from "@effect/sql-sqlite-node/SqliteMigrator"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import { freshKey, fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Layers from "./utils/layers.js"
import * as Postgres from "./utils/postgres.js"

const sqlSuite = <Client>(
  name: string,
  client: Layer.Layer<SqlClient.SqlClient | Client>,
  table: string,
  // The dialect's own migrator layer (which also wants a command executor, file system and path).
  dialectMigrator: (options: Migrator.MigratorOptions) => Layer.Layer<
    never,
    unknown,
    SqlClient.SqlClient | Client | NodeContext.NodeContext
  >
) =>
  describe(`SqlTokenStore: ${name}`, () => {
    const options: SqlTokenStore.Options = { table, userId: (key) => key.split("/")[0] }
    const withStore = <A, E>(
      body: (
        store: TokenStore.TokenStore["Type"],
        sql: SqlClient.SqlClient,
        raw: RawTokenStore.RawTokenStore["Type"]
      ) => Effect.Effect<A, E, SqlClient.SqlClient>
    ) =>
      Effect.gen(function*() {
        const raw = yield* SqlTokenStore.make(options)
        return yield* body(RawTokenStore.toTokenStore(raw), yield* SqlClient.SqlClient, raw)
      }).pipe(Effect.provide(client))

    const row = (sql: SqlClient.SqlClient, key: string) =>
      Effect.map(
        sql<Record<string, unknown>>`SELECT * FROM ${sql(table)} WHERE token_key = ${key}`,
        (rows) => rows[0]
      )

    it.effect("one row per key: user id, version, expiry, lease and write time, the payload", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = `alice/${freshKey("row")}`
          const token = fullToken(1)
          yield* store.set(key, token)
          yield* store.acquireLease(key, "owner-1", "30 seconds")
          const stored = yield* row(sql, key)
          assert.strictEqual(stored.user_id, "alice")
          assert.strictEqual(Number(stored.version), 1)
          assert.strictEqual(Number(stored.expires_at), DateTime.toEpochMillis(token.expiresAt!))
          assert.strictEqual(stored.lease_owner, "owner-1")
          assert.strictEqual(Number(stored.lease_deadline), 30_000)
          assert.strictEqual(Number(stored.updated_at), 0)
          assert.isTrue(Token.Equivalence(Either.getOrThrow(StoredToken.fromJson(String(stored.payload))), token))
        })
      ))

    it.effect("user ids and expiries are indexed", () =>
      withStore((_, sql) =>
        Effect.gen(function*() {
          const indexes = yield* sql.onDialectOrElse({
            pg: () =>
              Effect.map(
                sql<{ readonly def: string }>`SELECT indexdef AS def FROM pg_indexes WHERE tablename = ${table}`,
                (rows) => rows.map((r) => r.def)
              ),
            orElse: () =>
              Effect.map(
                sql<{ readonly def: string }>`SELECT sql AS def FROM sqlite_master
                  WHERE type = 'index' AND tbl_name = ${table} AND sql IS NOT NULL`,
                (rows) => rows.map((r) => r.def)
              )
          })
          assert.isTrue(indexes.some((def) => def.includes("user_id")), indexes.join("\n"))
          assert.isTrue(indexes.some((def) => def.includes("expires_at")), indexes.join("\n"))
          const byUser = yield* sql<{ readonly token_key: string }>`SELECT token_key FROM ${sql(table)}
            WHERE user_id = ${"nobody-" + freshKey("x")}`
          assert.strictEqual(byUser.length, 0)
        })
      ))

    it.effect("migrations are recorded and run once, however many stores start", () =>
      withStore((_, sql) =>
        Effect.gen(function*() {
          yield* Effect.all(Array.from({ length: 3 }, () => SqlTokenStore.make(options)), { concurrency: 3 })
          const ran = yield* sql<{ readonly migration_id: unknown; readonly name: string }>`SELECT migration_id, name
            FROM ${sql(SqlTokenStore.migrationsTable(table))}`
          assert.deepStrictEqual(ran.map((m) => [Number(m.migration_id), m.name]), [
            [1, "create_tokens"],
            [2, "index_expires_at"]
          ])
        })
      ))

    it.effect("stores starting together on a new table all succeed", () =>
      withStore(() =>
        Effect.gen(function*() {
          const fresh = `${table}_fresh`
          const stores = yield* Effect.all(
            Array.from({ length: 4 }, () => SqlTokenStore.make({ table: fresh })),
            { concurrency: "unbounded" }
          )
          const key = freshKey("fresh")
          assert.strictEqual(yield* stores[0].set(key, { data: "x" }), 1)
          assert.deepStrictEqual(yield* stores[3].get(key), Option.some({ data: "x", version: 1 }))
        })
      ))

    it.effect("the migrations also run through the dialect's migrator layer", () =>
      Effect.gen(function*() {
        const own = `${table}_own`
        yield* Effect.provide(
          Effect.void,
          dialectMigrator({
            loader: Migrator.fromRecord(SqlTokenStore.migrations({ table: own })),
            table: SqlTokenStore.migrationsTable(own)
          })
        )
        const store = RawTokenStore.toTokenStore(yield* SqlTokenStore.make({ table: own, migrate: false }))
        const key = freshKey("own")
        yield* store.set(key, fullToken(1))
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get(key)).token, fullToken(1)))
      }).pipe(Effect.provide(Layer.merge(client, NodeContext.layer))))

    it.effect("compare-and-set is one conditional update: a stale writer changes nothing", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = freshKey("cas")
          const first = yield* store.set(key, fullToken(1))
          const second = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(2), first.version))
          const before = yield* row(sql, key)
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(3), first.version)))
          assert.deepStrictEqual(yield* row(sql, key), before)
          assert.strictEqual(Number(before.version), second.version)
        })
      ))

    it.effect("a write past version 2^53 - 1 is a TokenStoreError, and nothing is written", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = freshKey("overflow")
          yield* store.set(key, fullToken(1))
          yield* sql`UPDATE ${sql(table)} SET version = ${Number.MAX_SAFE_INTEGER} WHERE token_key = ${key}`
          const before = yield* row(sql, key)
          const writes: Array<Effect.Effect<unknown, TokenStore.StoreError>> = [
            store.set(key, fullToken(2)),
            store.compareAndSet(key, fullToken(2), Number.MAX_SAFE_INTEGER)
          ]
          for (const write of writes) {
            const error = yield* Effect.flip(write)
            assert.strictEqual(error._tag, "TokenStoreError")
            assert.include(error.message, "2^53 - 1")
            assert.deepStrictEqual(yield* row(sql, key), before)
          }
          assert.strictEqual(Option.getOrThrow(yield* store.get(key)).version, Number.MAX_SAFE_INTEGER)
          // After a removal, a write into the empty row is refused too (not reported as a lost race).
          yield* store.remove(key)
          const removed = yield* row(sql, key)
          const error = yield* Effect.flip(store.compareAndSet(key, fullToken(3), undefined))
          assert.include(error.message, "2^53 - 1")
          assert.deepStrictEqual(yield* row(sql, key), removed)
        })
      ))

    it.effect("a key that is not well-formed UTF-16 is a TokenStoreError (two such keys would share a row)", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          // Both lone surrogates become U+FFFD in UTF-8: in PostgreSQL they were one key.
          const alice = `user-\uD800${freshKey("lone")}`
          const mallory = `user-\uDBFF${alice.slice(6)}`
          const calls: Array<Effect.Effect<unknown, TokenStore.StoreError>> = [
            store.set(alice, fullToken(1)),
            store.get(mallory),
            store.compareAndSet(alice, fullToken(1), undefined),
            store.remove(alice),
            store.acquireLease(alice, "owner", "30 seconds")
          ]
          for (const call of calls) {
            const error = yield* Effect.flip(call)
            assert.strictEqual(error._tag, "TokenStoreError")
            assert.include(error.message, "not well-formed UTF-16")
          }
          const rows = yield* sql`SELECT token_key FROM ${sql(table)} WHERE token_key LIKE ${"user-%"}`
          assert.deepStrictEqual(rows, [])
          // A surrogate pair is a well-formed key.
          const emoji = `user-\uD83D\uDE00${freshKey("pair")}`
          yield* store.set(emoji, fullToken(2))
          assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get(emoji)).token, fullToken(2)))
        })
      ))

    it.effect("head and compareAndSetRemoved: a write after a removal names the tombstone's version", () =>
      withStore((_, sql, raw) =>
        Effect.gen(function*() {
          const key = freshKey("head")
          const payload = { data: "p" }
          assert.deepStrictEqual(yield* raw.head!(key), { version: 0, stored: false })
          yield* raw.acquireLease(key, "owner", "30 seconds") // a row at version 0, without payload
          assert.deepStrictEqual(yield* raw.head!(key), { version: 0, stored: false })
          assert.deepStrictEqual(yield* raw.compareAndSetRemoved!(key, payload, 0), Option.some(1))
          assert.deepStrictEqual(yield* raw.head!(key), { version: 1, stored: true })
          assert.isTrue(Option.isNone(yield* raw.compareAndSetRemoved!(key, payload, 1)), "a payload is stored")
          yield* raw.remove(key)
          assert.deepStrictEqual(yield* raw.head!(key), { version: 1, stored: false })
          assert.isTrue(Option.isNone(yield* raw.compareAndSetRemoved!(key, payload, 0)), "a stale tombstone version")
          assert.deepStrictEqual(yield* raw.compareAndSetRemoved!(key, { data: "q" }, 1), Option.some(2))
          assert.strictEqual((yield* row(sql, key)).payload, "q")
          // Encrypted, the write after a removal is sealed for that version and reads back.
          const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
          const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
          yield* raw.remove(key)
          const written = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(3), undefined))
          assert.strictEqual(written.version, 3)
          assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get(key)).token, fullToken(3)))
        })
      ))

    it.effect("a payload that does not decode is CorruptedToken, and stays in its row", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = freshKey("corrupt")
          yield* store.set(key, fullToken(1))
          yield* sql`UPDATE ${sql(table)} SET payload = ${"{ not json"} WHERE token_key = ${key}`
          const error = yield* Effect.flip(store.get(key))
          assert.strictEqual(error._tag, "CorruptedToken")
          assert.isUndefined((error as TokenStore.CorruptedToken).movedTo)
          assert.strictEqual((yield* row(sql, key)).payload, "{ not json")
          // A write replaces it.
          yield* store.set(key, fullToken(2))
          assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get(key)).token, fullToken(2)))
        })
      ))

    it.effect("encrypted: a ciphertext swapped into another user's row does not decrypt", () =>
      withStore((_, sql, raw) =>
        Effect.gen(function*() {
          const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
          const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
          const alice = `alice/${freshKey("swap")}`
          const mallory = `mallory/${freshKey("swap")}`
          yield* store.set(alice, fullToken(1))
          yield* store.set(mallory, fullToken(2))
          const stolen = (yield* row(sql, alice)).payload
          assert.notInclude(String(stolen), "access-1")
          yield* sql`UPDATE ${sql(table)} SET payload = ${stolen} WHERE token_key = ${mallory}`
          const error = yield* Effect.flip(store.get(mallory))
          assert.strictEqual(error._tag, "CorruptedToken")
          assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get(alice)).token, fullToken(1)))
        })
      ))

    it.effect("stats per user: one GROUP BY over user_id and expires_at; encrypted rows counted the same", () =>
      withStore((store, _, raw) =>
        Effect.gen(function*() {
          const T = 1_800_000_000_000
          yield* TestClock.setTime(T)
          const at = (seconds: number) => Token.make({ access_token: Redacted.make("a"), expires_in: seconds }, T)
          const [alice, bob] = [
            `alice-${freshKey("u")}`.replaceAll("/", "-"),
            `bob-${freshKey("u")}`.replaceAll("/", "-")
          ]
          yield* store.set(`${alice}/github`, at(3600))
          yield* store.set(`${alice}/google`, at(60))
          const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
          const encrypted = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
          yield* encrypted.set(`${bob}/github`, at(200))
          yield* TestClock.adjust("2 minutes")
          const stats = yield* store.stats({ byUser: true, refreshWindow: "5 minutes" })
          const of = (user: string) => stats.byUser?.find((u) => u.user === user)
          assert.deepStrictEqual(of(alice), { user: alice, total: 2, fresh: 1, refresh_window: 0, expired: 1 })
          assert.deepStrictEqual(of(bob), { user: bob, total: 1, fresh: 0, refresh_window: 1, expired: 0 })
          assert.strictEqual(stats.total, stats.byUser!.reduce((n, u) => n + u.total, 0))
          const same = yield* encrypted.stats({ byUser: true, refreshWindow: "5 minutes" })
          assert.deepStrictEqual(same, stats)
          // A removed token leaves its row (for its version), uncounted.
          yield* store.remove(`${alice}/google`)
          const after = yield* store.stats({ byUser: true, refreshWindow: "5 minutes" })
          assert.strictEqual(after.byUser?.find((u) => u.user === alice)?.total, 1)
        })
      ))

    it.effect("database failures are TokenStoreError", () =>
      withStore(() =>
        Effect.gen(function*() {
          // A table that was never created.
          const broken = RawTokenStore.toTokenStore(
            yield* SqlTokenStore.make({ table: `${table}_missing`, migrate: false })
          )
          const error = yield* Effect.flip(broken.get(freshKey("fail")))
          assert.strictEqual(error._tag, "TokenStoreError")
          assert.include(error.message, "get")
          assert.isTrue(TokenStore.isStoreError(error))
        })
      ))
  })

sqlSuite(
  "SQLite",
  Layers.sqliteClient,
  "tokens",
  SqliteMigrator.layer
)

const table = Postgres.uniqueTable("sql")

Postgres.whenAvailable("SqlTokenStore: PostgreSQL", () => {
  afterAll(() =>
    Postgres.dropTables(
      ...[table, `${table}_fresh`, `${table}_own`, `${table}_restart`].flatMap((
        t
      ) => [t, SqlTokenStore.migrationsTable(t)])
    )
  )
  sqlSuite("PostgreSQL", Layers.pgClient(Postgres.url), table, PgMigrator.layer)

  // A database restart, a failover or a proxy that drops idle connections: every connection the store's
  // pool holds is terminated by the server, idle or mid-statement.
  describe("SqlTokenStore: PostgreSQL connections terminated", () => {
    // Short: PostgreSQL keeps 63 bytes of it.
    const name = `tokenfx-restart-${Math.random().toString(36).slice(2, 10)}`
    const client = PgClient.layer({ url: Redacted.make(Postgres.url), applicationName: name }).pipe(Layer.orDie)
    const terminate = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly terminated: boolean }>`
        SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = ${name}`
      return rows.filter((row) => row.terminated).length
    }).pipe(Effect.provide(Layers.pgClient(Postgres.url)), Effect.scoped)

    it.live(
      "the store's calls fail with TokenStoreError, never a defect, and work again; the token is intact",
      () =>
        Effect.gen(function*() {
          const store = RawTokenStore.toTokenStore(yield* SqlTokenStore.make({ table: `${table}_restart` }))
          const key = freshKey("restart")
          yield* store.set(key, fullToken(1))
          const sql = yield* SqlClient.SqlClient
          // Three connections in the pool, then idle.
          const brief = sql`SELECT pg_sleep(0.1)`
          yield* Effect.all([brief, brief, brief], { concurrency: "unbounded" })
          // And a statement running when its connection dies (pg_sleep holds it open).
          const running = yield* Effect.fork(Effect.either(sql`SELECT pg_sleep(30)`))
          yield* Effect.sleep("200 millis")
          assert.isAtLeast(yield* terminate, 3)
          const interrupted = yield* Fiber.join(running)
          assert.isTrue(Either.isLeft(interrupted), "the running statement failed")
          // Each call fails typed (a connection the pool still thought alive) or works; then they all work.
          for (let i = 0; i < 3; i++) {
            const outcome = yield* Effect.either(store.get(key))
            if (Either.isLeft(outcome)) assert.strictEqual(outcome.left._tag, "TokenStoreError")
          }
          const entry = Option.getOrThrow(yield* store.get(key))
          assert.strictEqual(entry.version, 1)
          assert.isTrue(Token.Equivalence(entry.token, fullToken(1)))
          assert.deepStrictEqual(
            yield* store.compareAndSet(key, fullToken(2), 1),
            Option.some({ token: fullToken(2), version: 2 })
          )
          assert.isTrue(yield* store.acquireLease(key, "owner", "30 seconds"))
        }).pipe(Effect.provide(client)),
      60_000
    )
  })
})
