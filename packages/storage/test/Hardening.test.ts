/**
 * The stores against a hostile disk or database: deep nesting in stored data, a stale lock naming a
 * live pid, an old ciphertext put back, weak keys, FIFOs and symlinks at token paths, a directory
 * owned by someone else, versions above 2^53. Each is a typed error, never a defect or a hang.
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, assert, describe, it } from "@effect/vitest"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as KeyValueTokenStore from "@tokenfx/storage/KeyValueTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Layers from "./utils/layers.js"
import * as Postgres from "./utils/postgres.js"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(failure), `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return Option.getOrThrow(failure)
}

const fileSetup = (options?: FileTokenStore.Options) =>
  Effect.gen(function*() {
    const dir = yield* Layers.tempTokenDirectory
    const raw = yield* FileTokenStore.make(dir, options)
    return { dir, raw, store: RawTokenStore.toTokenStore(raw) }
  })

const tokenFile = (dir: string) => {
  const names = Fs.readdirSync(dir).filter((name) => name.endsWith(".json"))
  assert.strictEqual(names.length, 1)
  return Path.join(dir, names[0])
}

describe("FileTokenStore hardening", () => {
  describe("1. deeply nested stored data", () => {
    it.scoped("a token file of 2,200 levels of [ is moved aside, for get and for set", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* fileSetup()
        yield* store.set("alice", fullToken(1))
        const file = tokenFile(dir)
        Fs.writeFileSync(file, deep(2_200), { mode: 0o600 })
        const error = failureOf(yield* Effect.exit(store.get("alice")))
        assert.strictEqual(error._tag, "CorruptedToken")
        assert.isTrue(Fs.readdirSync(dir).some((name) => name.includes(".corrupt-")))
        Fs.writeFileSync(file, deep(2_200), { mode: 0o600 })
        // The corrupt file is moved aside (its version unknown) and the write starts afresh.
        yield* store.set("alice", fullToken(2))
        assert.isTrue(Option.isSome(yield* store.get("alice")))
        assert.strictEqual(Fs.readdirSync(dir).filter((name) => name.includes(".corrupt-")).length, 2)
      }).pipe(Effect.provide(Layers.NodeLayer)))

    it.scoped("a token whose stored payload nests deeply is a CorruptedToken", () =>
      Effect.gen(function*() {
        const { raw, store } = yield* fileSetup()
        yield* raw.set("alice", { data: `{"format":1,"token":${deep(5_000)}}` })
        assert.strictEqual(failureOf(yield* Effect.exit(store.get("alice")))._tag, "CorruptedToken")
      }).pipe(Effect.provide(Layers.NodeLayer)))
  })

  describe("5. a stale lock naming a live, unrelated pid", () => {
    it.scopedLive("is broken once older than staleLockAfter", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* fileSetup({ lockTimeout: "3 seconds", staleLockAfter: "200 millis" })
        yield* store.set("alice", fullToken(1))
        const lock = tokenFile(dir).replace(/\.json$/, ".lock")
        // The pid of a live process (this one's parent) that never took the lock: pid reuse after a crash.
        Fs.writeFileSync(
          lock,
          JSON.stringify({ pid: process.ppid, host: Os.hostname(), thread: 0, nonce: "x", at: Date.now() - 60_000 })
        )
        assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
      }).pipe(Effect.provide(Layers.NodeLayer)))
  })

  describe("10. what sits at a token path", () => {
    it.scopedLive("a FIFO is refused at once, typed", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* fileSetup()
        yield* store.set("alice", fullToken(1))
        const file = tokenFile(dir)
        Fs.rmSync(file)
        ChildProcess.execFileSync("mkfifo", ["-m", "600", file])
        const exit = yield* Effect.exit(Effect.timeout(store.get("alice"), "3 seconds"))
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "InsecureStorage")
      }).pipe(Effect.provide(Layers.NodeLayer)))

    it.scoped("a symlinked token file is not followed", () =>
      Effect.gen(function*() {
        const victim = yield* fileSetup()
        yield* victim.store.set("alice", fullToken(7))
        const { dir, store } = yield* fileSetup()
        yield* store.set("alice", fullToken(1))
        const file = tokenFile(dir)
        Fs.rmSync(file)
        Fs.symlinkSync(tokenFile(victim.dir), file)
        const error = failureOf(yield* Effect.exit(store.get("alice")))
        assert.strictEqual(error._tag, "InsecureStorage")
      }).pipe(Effect.provide(Layers.NodeLayer)))

    it.scoped("a directory owned by another user is refused", () =>
      Effect.gen(function*() {
        if (process.geteuid?.() !== 0) return
        const dir = yield* Layers.tempTokenDirectory
        Fs.mkdirSync(dir, { mode: 0o700 })
        Fs.chownSync(dir, 65534, 65534)
        const error = failureOf(yield* Effect.exit(FileTokenStore.make(dir)))
        assert.strictEqual(error._tag, "InsecureStorage")
        const lax = yield* Effect.exit(FileTokenStore.make(dir, { strictPermissions: false }))
        assert.isTrue(Exit.isSuccess(lax))
      }).pipe(Effect.provide(Layers.NodeLayer)))
  })
})

describe("EncryptedTokenStore hardening", () => {
  const memoryRaw = KeyValueTokenStore.make().pipe(Effect.provide(KeyValueStore.layerMemory))

  it.effect("9. an older ciphertext of the same key put back is refused", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
      const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
      yield* store.set("alice", fullToken(1))
      const old = Option.getOrThrow(yield* raw.get("alice")).data
      const entry = Option.getOrThrow(yield* store.get("alice"))
      yield* store.compareAndSet("alice", fullToken(2), entry.version)
      // Someone with write access to the store rolls the token back.
      yield* raw.set("alice", { data: old })
      const error = failureOf(yield* Effect.exit(store.get("alice")))
      assert.strictEqual(error._tag, "CorruptedToken")
    }))

  it.effect("9. versions stay bound through set, compareAndSet and a write after remove", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
      const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
      yield* store.set("alice", fullToken(1))
      yield* store.set("alice", fullToken(2))
      const entry = Option.getOrThrow(yield* store.get("alice"))
      assert.isTrue(Option.isSome(yield* store.compareAndSet("alice", fullToken(3), entry.version)))
      yield* store.remove("alice")
      assert.isTrue(Option.isSome(yield* store.compareAndSet("alice", fullToken(4), undefined)))
      assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).token.accessToken.toString(), "<redacted>")
      yield* store.remove("alice")
      yield* store.set("alice", fullToken(5))
      assert.isTrue(Option.isSome(yield* store.get("alice")))
    }))

  it.effect("9. the key id reveals nothing of the key", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const key = yield* EncryptedTokenStore.generateKey
      const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: key })
      const store = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))
      yield* store.set("alice", fullToken(1))
      const id = Option.getOrThrow(yield* raw.get("alice")).data.split(".")[1]
      const bytes = Encoding.decodeBase64(Redacted.value(key))
      const fingerprint = Crypto.createHash("sha256").update(bytes._tag === "Right" ? bytes.right : "").digest("hex")
      assert.notInclude(fingerprint, id)
      assert.strictEqual(id, keyRing.current)
    }))

  it.effect("9. weak keys are refused", () =>
    Effect.gen(function*() {
      const weak = [
        new Uint8Array(32),
        new Uint8Array(32).fill(0x41),
        Uint8Array.from({ length: 32 }, (_, i) => i % 2 === 0 ? 1 : 2),
        Uint8Array.from({ length: 32 }, (_, i) => i)
      ]
      for (const bytes of weak) {
        const exit = yield* Effect.exit(
          EncryptedTokenStore.makeKeyRing({ current: Redacted.make(Encoding.encodeBase64(bytes)) })
        )
        assert.strictEqual(failureOf(exit)._tag, "InsecureStorage")
      }
    }))
})

const sqlSuite = (name: string, client: Layer.Layer<SqlClient.SqlClient>, table: string) =>
  describe(`SqlTokenStore hardening: ${name}`, () => {
    const withStore = <A, E>(
      body: (
        store: TokenStore.TokenStore["Type"],
        sql: SqlClient.SqlClient,
        raw: RawTokenStore.RawTokenStore["Type"]
      ) => Effect.Effect<A, E, SqlClient.SqlClient>
    ) =>
      Effect.gen(function*() {
        const raw = yield* SqlTokenStore.make({ table })
        return yield* body(RawTokenStore.toTokenStore(raw), yield* SqlClient.SqlClient, raw)
      }).pipe(Effect.provide(client))

    it.effect("1. a deeply nested payload is a CorruptedToken", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = `deep-${globalThis.crypto.randomUUID()}`
          yield* store.set(key, fullToken(1))
          yield* sql`UPDATE ${sql(table)} SET payload = ${`{"format":1,"token":${
            deep(5_000)
          }}`} WHERE token_key = ${key}`
          assert.strictEqual(failureOf(yield* Effect.exit(store.get(key)))._tag, "CorruptedToken")
        })
      ))

    it.effect("12. a version above 2^53 never loses precision silently", () =>
      withStore((store, sql) =>
        Effect.gen(function*() {
          const key = `big-${globalThis.crypto.randomUUID()}`
          yield* store.set(key, fullToken(1))
          yield* sql`UPDATE ${sql(table)} SET version = 9007199254740993 WHERE token_key = ${key}`
          const exit = yield* Effect.exit(store.get(key))
          if (Exit.isSuccess(exit)) {
            // A version it hands out must be one compare-and-set accepts.
            const entry = Option.getOrThrow(exit.value)
            assert.isTrue(Option.isSome(yield* store.compareAndSet(key, fullToken(2), entry.version)))
          } else {
            assert.strictEqual(failureOf(exit)._tag, "TokenStoreError")
          }
        })
      ))
  })

sqlSuite("SQLite", Layers.sqliteClient, "tokens")

const pgTable = Postgres.uniqueTable("hardening")

Postgres.whenAvailable("SqlTokenStore hardening: PostgreSQL", () => {
  afterAll(() => Postgres.dropTables(pgTable, SqlTokenStore.migrationsTable(pgTable)))
  sqlSuite("PostgreSQL", Layers.pgClient(Postgres.url), pgTable)
})
