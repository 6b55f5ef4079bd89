/**
 * What the file store accepts is what it reads back: no write it would then refuse as corrupt (over the
 * 1 MiB a read accepts, or a version past 2^53 - 1), and `keys` trusts a hashed file name only for the
 * key that hashes to it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

// The documented limit of a token file.
const maxFileSize = 1024 * 1024

const setup = Effect.gen(function*() {
  const dir = yield* tempTokenDirectory
  const raw = yield* FileTokenStore.make(dir)
  return { dir, raw, store: RawTokenStore.toTokenStore(raw), file: Path.join(dir, "key-alice.json") }
})

// Nothing but the token file itself: no temporary file left, nothing moved aside.
const assertOnlyTokenFile = (dir: string) =>
  assert.deepStrictEqual(Fs.readdirSync(dir).filter((name) => name.startsWith("key-alice")), ["key-alice.json"])

describe("FileTokenStore: a write it could not read back is refused", () => {
  it.scoped("a 1.5 MB token over a valid one: TokenStoreError, and the valid token stays", () =>
    Effect.gen(function*() {
      const { dir, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      const big = Token.make({ access_token: Redacted.make("a".repeat(1_500_000)), expires_in: 3600 }, 0)
      const writes: ReadonlyArray<Effect.Effect<unknown, TokenStore.StoreError>> = [
        store.set("alice", big),
        store.compareAndSet("alice", big, 1)
      ]
      for (const write of writes) {
        const error = yield* Effect.flip(write)
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, `${maxFileSize}`)
      }
      const entry = Option.getOrThrow(yield* store.get("alice"))
      assert.strictEqual(entry.version, 1)
      assert.isTrue(Token.Equivalence(entry.token, fullToken(1)))
      assertOnlyTokenFile(dir)
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a lease owner that makes the lease file over 1 MiB: TokenStoreError, the lapsed lease file untouched", () =>
    Effect.gen(function*() {
      const { dir, store } = yield* setup
      const lease = Path.join(dir, "key-alice.lease")
      yield* store.acquireLease("alice", "earlier", "1 second")
      yield* TestClock.adjust("2 seconds")
      const before = Fs.readFileSync(lease)
      // Written as JSON, each control character takes six bytes: the bound is on the file, not the string.
      for (const owner of ["o".repeat(maxFileSize), "\u0001".repeat(200_000)]) {
        const error = yield* Effect.flip(store.acquireLease("alice", owner, "1 minute"))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, `${maxFileSize}`)
        assert.notInclude(error.message, "oooo")
        assert.deepStrictEqual(Fs.readFileSync(lease), before)
      }
      assert.deepStrictEqual(Fs.readdirSync(dir).filter((name) => name.includes(".lease.tmp-")), [])
      assert.isTrue(yield* store.acquireLease("alice", "o".repeat(512 * 1024), "1 minute"), "a long owner that fits")
      assert.isFalse(yield* store.acquireLease("alice", "other", "1 minute"))
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a file of exactly the limit is written and read back; one byte more is refused", () =>
    Effect.gen(function*() {
      const { dir, file, raw } = yield* setup
      const overhead = JSON.stringify({ format: 1, key: "alice", version: 1, data: "" }).length
      const fits = "a".repeat(maxFileSize - overhead)
      assert.strictEqual(yield* raw.set("alice", { data: fits }), 1)
      assert.strictEqual(Fs.statSync(file).size, maxFileSize)
      assert.strictEqual(Option.getOrThrow(yield* raw.get("alice")).data, fits)
      // Version 2 is as long as version 1: one more byte of data is one byte over.
      const error = yield* Effect.flip(raw.set("alice", { data: fits + "a" }))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.strictEqual(Option.getOrThrow(yield* raw.get("alice")).version, 1)
      assertOnlyTokenFile(dir)
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("the limit is in bytes: 600,000 two-byte characters are over it", () =>
    Effect.gen(function*() {
      const { raw } = yield* setup
      yield* raw.set("alice", { data: "small" })
      const error = yield* Effect.flip(raw.set("alice", { data: "é".repeat(600_000) }))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.strictEqual(Option.getOrThrow(yield* raw.get("alice")).data, "small")
    }).pipe(Effect.provide(NodeLayer)))
})

describe("FileTokenStore: versions stay exact", () => {
  // Puts `version` (and a tombstone, with `data: null`) into alice's file by hand.
  const atVersion = (file: string, version: number, tombstone = false) => {
    const envelope = JSON.parse(Fs.readFileSync(file, "utf8"))
    Fs.writeFileSync(file, JSON.stringify({ ...envelope, version, ...(tombstone ? { data: null } : {}) }), {
      mode: 0o600
    })
    return Fs.readFileSync(file)
  }

  it.scoped("at 2^53 - 1, set and compareAndSet fail with TokenStoreError and leave the file as it was", () =>
    Effect.gen(function*() {
      const { dir, file, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      const before = atVersion(file, Number.MAX_SAFE_INTEGER)
      const writes: ReadonlyArray<Effect.Effect<unknown, TokenStore.StoreError>> = [
        store.set("alice", fullToken(2)),
        store.compareAndSet("alice", fullToken(2), Number.MAX_SAFE_INTEGER)
      ]
      for (const write of writes) {
        const error = yield* Effect.flip(write)
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, "2^53 - 1")
      }
      assert.deepStrictEqual(Fs.readFileSync(file), before)
      assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).version, Number.MAX_SAFE_INTEGER)
      assertOnlyTokenFile(dir)
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a tombstone at 2^53 - 1 refuses the next write too", () =>
    Effect.gen(function*() {
      const { file, raw, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      const before = atVersion(file, Number.MAX_SAFE_INTEGER, true)
      assert.strictEqual((yield* Effect.flip(store.set("alice", fullToken(2))))._tag, "TokenStoreError")
      const afterRemoval = yield* Effect.flip(
        raw.compareAndSetRemoved!("alice", { data: "p" }, Number.MAX_SAFE_INTEGER)
      )
      assert.strictEqual(afterRemoval._tag, "TokenStoreError")
      assert.deepStrictEqual(Fs.readFileSync(file), before)
    }).pipe(Effect.provide(NodeLayer)))

  // Written by another tool, or corrupted: JSON.parse rounds it to 2^53, a version a compare-and-set meant
  // for another could match. The file is unreadable instead, and kept aside byte for byte.
  it.scoped("a version past 2^53 - 1 in the file is CorruptedToken, never a rounded version", () =>
    Effect.gen(function*() {
      const { file, raw, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      const content = Fs.readFileSync(file, "utf8").replace(/"version":1\b/, `"version":9007199254740993`)
      Fs.writeFileSync(file, content, { mode: 0o600 })
      assert.deepStrictEqual(yield* raw.head!("alice"), { version: 0, stored: false })
      assert.isFalse(yield* raw.remove("alice", 2 ** 53))
      Fs.writeFileSync(file, content, { mode: 0o600 })
      const error = yield* Effect.flip(store.get("alice"))
      assert.strictEqual(error._tag, "CorruptedToken")
      if (error._tag !== "CorruptedToken") return
      assert.strictEqual(Fs.readFileSync(error.movedTo!, "utf8"), content)
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("at 2^53 - 2, the last exact version is written and read back", () =>
    Effect.gen(function*() {
      const { file, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      atVersion(file, Number.MAX_SAFE_INTEGER - 1)
      assert.strictEqual((yield* store.set("alice", fullToken(2))).version, Number.MAX_SAFE_INTEGER)
      assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).version, Number.MAX_SAFE_INTEGER)
    }).pipe(Effect.provide(NodeLayer)))
})

describe("FileTokenStore: keys trusts a hashed name only for its own key", () => {
  const foreign = (dir: string, digit: string) => Path.join(dir, `sha256-${digit.repeat(64)}.json`)
  const copy = (from: string, to: string) => {
    Fs.copyFileSync(from, to)
    Fs.chmodSync(to, 0o600)
  }

  it.scoped("a copy of a key's file under a hashed name is no key's: listed once, counted once, left alone", () =>
    Effect.gen(function*() {
      const { dir, file, store } = yield* setup
      yield* store.set("alice", fullToken(1))
      copy(file, foreign(dir, "0"))
      assert.deepStrictEqual(yield* store.keys, ["alice"])
      assert.strictEqual(yield* store.size, 1)
      assert.strictEqual((yield* store.stats()).total, 1)
      assert.isTrue(Fs.existsSync(foreign(dir, "0")))
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a long key's file copied under another hashed name: the key is listed once and still reads", () =>
    Effect.gen(function*() {
      const { dir, store } = yield* setup
      const long = "x".repeat(1000)
      yield* store.set(long, fullToken(1))
      const [own] = Fs.readdirSync(dir).filter((name) => name.startsWith("sha256-"))
      copy(Path.join(dir, own), foreign(dir, "f"))
      assert.deepStrictEqual(yield* store.keys, [long])
      assert.strictEqual(yield* store.size, 1)
      assert.strictEqual(Option.getOrThrow(yield* store.get(long)).version, 1)
    }).pipe(Effect.provide(NodeLayer)))
})
