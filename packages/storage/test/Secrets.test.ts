/**
 * Canaries: a token and an encryption key with recognizable secrets are put through every store
 * error that can be provoked, and no rendering of those errors (message, `String`, JSON, `inspect`,
 * `Cause.pretty` with causes) may contain them.
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as KeyValueTokenStore from "@tokenfx/storage/KeyValueTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Util from "node:util"
import * as Layers from "./utils/layers.js"
import * as Postgres from "./utils/postgres.js"

const canaryToken = Token.make({
  access_token: Redacted.make("CANARY-access-3d9f"),
  token_type: "Bearer",
  expires_in: 3600,
  refresh_token: Redacted.make("CANARY-refresh-3d9f"),
  id_token: Redacted.make("CANARY-id-3d9f")
}, 1_700_000_000_000)

// Random-looking, since a weak key (a counting sequence, say) is refused.
const keyBytes = Uint8Array.from(Crypto.createHash("sha256").update("tokenfx-canary-key").digest())
const canaryKey = Encoding.encodeBase64(keyBytes)

const secrets = ["CANARY", canaryKey, Encoding.encodeBase64Url(keyBytes), Encoding.encodeHex(keyBytes)]

/** Asserts that a store error, however it is printed, holds no secret. */
const assertClean = (error: unknown, expectedTag: string) => {
  assert.isTrue(TokenStore.isStoreError(error), String(error))
  assert.strictEqual((error as TokenStore.StoreError)._tag, expectedTag)
  const printed = [
    (error as TokenStore.StoreError).message,
    String(error),
    JSON.stringify(error),
    Util.inspect(error, { depth: 20 }),
    Util.inspect(error, { depth: 20, showHidden: true }),
    Cause.pretty(Cause.fail(error), { renderErrorCause: true }),
    Cause.pretty(Cause.die(error), { renderErrorCause: true })
  ].join("\n")
  for (const secret of secrets) assert.notInclude(printed, secret, `${expectedTag} printed a secret`)
}

const tokenFile = (dir: string) => Path.join(dir, Fs.readdirSync(dir).find((name) => name.endsWith(".json"))!)

describe("no store error carries a secret", () => {
  it.scoped("file: truncated, world-readable, foreign-owned", () =>
    Effect.gen(function*() {
      const dir = yield* Layers.tempTokenDirectory
      const store = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir))
      yield* store.set("alice", canaryToken)
      const file = tokenFile(dir)
      const content = Fs.readFileSync(file, "utf8")
      Fs.writeFileSync(file, content.slice(0, content.indexOf("CANARY-refresh") + 10))
      assertClean(yield* Effect.flip(store.get("alice")), "CorruptedToken")

      yield* store.set("alice", canaryToken)
      Fs.chmodSync(file, 0o644)
      assertClean(yield* Effect.flip(store.get("alice")), "InsecureStorage")
      Fs.chmodSync(file, 0o600)
      // Only root can give a file away.
      if (process.geteuid?.() === 0) {
        Fs.chownSync(file, 12345, 12345)
        assertClean(yield* Effect.flip(store.get("alice")), "InsecureStorage")
      }
    }).pipe(Effect.provide(Layers.NodeLayer)))

  it.scoped("encrypted: tampered ciphertext, a key not in the ring, malformed keys", () =>
    Effect.gen(function*() {
      const raw = yield* KeyValueTokenStore.make().pipe(Effect.provide(KeyValueStore.layerMemory))
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: Redacted.make(canaryKey) })
      const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
      yield* store.set("alice", canaryToken)
      const { data } = Option.getOrThrow(yield* raw.get("alice"))
      yield* raw.set("alice", { data: data.slice(0, -3) + (data.endsWith("AAA") ? "BBB" : "AAA") })
      assertClean(yield* Effect.flip(store.get("alice")), "CorruptedToken")

      yield* store.set("alice", canaryToken)
      const other = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
      const wrong = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, other))
      assertClean(yield* Effect.flip(wrong.get("alice")), "InsecureStorage")

      const fromConfig = (env: Record<string, string>) =>
        Effect.flip(EncryptedTokenStore.makeKeyRingConfig()).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      // A key that is one byte short, or that has a character too many, or a bad previous key.
      const short = Encoding.encodeBase64(keyBytes.subarray(1))
      for (
        const env of [
          { TOKENFX_ENCRYPTION_KEY: short },
          { TOKENFX_ENCRYPTION_KEY: `${canaryKey}!` },
          { TOKENFX_ENCRYPTION_KEY: canaryKey, TOKENFX_ENCRYPTION_PREVIOUS_KEYS: `${canaryKey}!` }
        ]
      ) {
        const error = yield* fromConfig(env)
        assertClean(error, "InsecureStorage")
        assert.notInclude(Util.inspect(error), short)
      }
    }))

  const sqlFailures = (table: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const store = RawTokenStore.toTokenStore(yield* SqlTokenStore.make({ table }))
      yield* store.set("alice", canaryToken)
      // A constraint added by someone else: PostgreSQL reports the whole failing row, payload included.
      yield* sql.onDialectOrElse({
        pg: () =>
          sql`ALTER TABLE ${sql(table)} ADD CONSTRAINT ${sql(`${table}_short`)} CHECK (length(payload) < 5) NOT VALID`,
        orElse: () =>
          sql`CREATE TRIGGER ${sql(`${table}_refuse`)} BEFORE UPDATE ON ${sql(table)}
          BEGIN SELECT RAISE(ABORT, 'refused'); END`
      })
      assertClean(yield* Effect.flip(store.set("alice", canaryToken)), "TokenStoreError")
      yield* sql`DROP TABLE ${sql(table)}`
      const dropped = yield* Effect.flip(store.set("alice", canaryToken))
      assertClean(dropped, "TokenStoreError")
      // What the database said is kept, in words.
      assert.match(dropped.message, /does not exist|no such table/)
      assertClean(yield* Effect.flip(store.get("alice")), "TokenStoreError")
    })

  it.effect("SQLite: a refused write, a dropped table", () =>
    sqlFailures("canary").pipe(Effect.provide(Layers.sqliteClient)))

  it.effect("spans: names and attributes, SQL statements included, hold no secret", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = native.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      yield* Effect.gen(function*() {
        const raw = yield* SqlTokenStore.make({ table: "spans" })
        const store = RawTokenStore.toTokenStore(raw)
        yield* store.set("alice", canaryToken)
        yield* store.get("alice")
        const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: Redacted.make(canaryKey) })
        yield* RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing)).set("bob", canaryToken)
      }).pipe(Effect.withTracer(recording), Effect.provide(Layers.sqliteClient))
      const names = spans.map((span) => span.name)
      assert.include(names, "TokenStore.set")
      assert.include(names, "sql.execute")
      const printed = Util.inspect(
        spans.map((span) => ({ name: span.name, attributes: span.attributes, events: Reflect.get(span, "events") })),
        { depth: 10 }
      )
      assert.include(printed, "INSERT INTO", "the statements are among what was looked at")
      for (const secret of secrets) assert.notInclude(printed, secret)
    }))

  const table = Postgres.uniqueTable("canary")

  Postgres.whenAvailable("no store error carries a secret: PostgreSQL", () => {
    afterAll(() => Postgres.dropTables(table, SqlTokenStore.migrationsTable(table)))
    it.effect("PostgreSQL: a refused write, a dropped table", () =>
      sqlFailures(table).pipe(Effect.provide(Layers.pgClient(Postgres.url))))
  })
})
