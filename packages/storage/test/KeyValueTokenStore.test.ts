import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as KeyValueTokenStore from "@tokenfx/storage/KeyValueTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

const setup = (options?: KeyValueTokenStore.Options) =>
  Effect.gen(function*() {
    const kv = yield* KeyValueStore.KeyValueStore
    const store = RawTokenStore.toTokenStore(yield* KeyValueTokenStore.make(options))
    return { kv, store }
  })

const readToken = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), (entry) => Option.getOrThrow(entry).token)

describe("KeyValueTokenStore", () => {
  it.effect("keeps entries under <prefix>token:<key>, with their version", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      yield* store.set("alice", fullToken(1))
      yield* store.set("alice", fullToken(2))
      const raw = JSON.parse(Option.getOrThrow(yield* kv.get("tokenfx:token:alice")))
      assert.strictEqual(raw.version, 2)
      assert.isTrue(Token.Equivalence(Either.getOrThrow(StoredToken.fromJson(raw.data)), fullToken(2)))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("stores with different prefixes share a KeyValueStore without seeing each other", () =>
    Effect.gen(function*() {
      const a = yield* setup({ prefix: "a/" })
      const b = yield* setup({ prefix: "b/" })
      yield* a.store.set("alice", fullToken(1))
      assert.isTrue(Option.isNone(yield* b.store.get("alice")))
      assert.deepStrictEqual(yield* b.store.keys, [])
      assert.deepStrictEqual(yield* a.store.keys, ["alice"])
      yield* b.store.set("alice", fullToken(2))
      assert.isTrue(Token.Equivalence(yield* readToken(a.store, "alice"), fullToken(1)))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("an entry that does not decode is CorruptedToken, and is copied aside before it is cleared", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      yield* store.set("alice", fullToken(1))
      yield* kv.set("tokenfx:token:alice", "{ truncated")
      const error = yield* Effect.flip(store.get("alice"))
      assert.strictEqual(error._tag, "CorruptedToken")
      if (error._tag !== "CorruptedToken") return
      assert.match(error.movedTo!, /^tokenfx:corrupt:alice:/)
      assert.deepStrictEqual(yield* kv.get(error.movedTo!), Option.some("{ truncated"))
      assert.isTrue(Option.isNone(yield* store.get("alice")))
      yield* store.set("alice", fullToken(2))
      assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(2)))
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("a token that does not decode is kept aside with its version", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      const written = yield* store.set("alice", fullToken(1))
      yield* kv.set("tokenfx:token:alice", JSON.stringify({ version: written.version, data: "{}" }))
      const error = yield* Effect.flip(store.get("alice"))
      assert.strictEqual(error._tag, "CorruptedToken")
      // The version survives: a writer holding it no longer matches, a new token gets a higher one.
      assert.isTrue(Option.isNone(yield* store.compareAndSet("alice", fullToken(2), written.version)))
      const next = Option.getOrThrow(yield* store.compareAndSet("alice", fullToken(3), undefined))
      assert.isAbove(next.version, written.version)
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("corrupt entries of one key kept aside at the same instant are all kept, each under its own name", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      // TestClock stands still: every copy is made in the same millisecond.
      const moved: Array<string> = []
      for (const garbage of ["garbage one", "garbage two", "garbage three"]) {
        yield* kv.set("tokenfx:token:alice", garbage)
        const error = yield* Effect.flip(store.get("alice"))
        assert.strictEqual(error._tag, "CorruptedToken")
        if (error._tag === "CorruptedToken") moved.push(error.movedTo!)
      }
      assert.strictEqual(new Set(moved).size, 3, `copied to ${moved.join(", ")}`)
      for (const [i, garbage] of ["garbage one", "garbage two", "garbage three"].entries()) {
        assert.deepStrictEqual(yield* kv.get(moved[i]), Option.some(garbage))
      }
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("a write past version 2^53 - 1 is a TokenStoreError, and nothing is written", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      yield* store.set("alice", fullToken(1))
      const record = JSON.parse(Option.getOrThrow(yield* kv.get("tokenfx:token:alice")))
      const top = JSON.stringify({ ...record, version: Number.MAX_SAFE_INTEGER })
      yield* kv.set("tokenfx:token:alice", top)
      const writes: Array<Effect.Effect<unknown, TokenStore.StoreError>> = [
        store.set("alice", fullToken(2)),
        store.compareAndSet("alice", fullToken(2), Number.MAX_SAFE_INTEGER)
      ]
      for (const write of writes) {
        const error = yield* Effect.flip(write)
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, "2^53 - 1")
        assert.deepStrictEqual(yield* kv.get("tokenfx:token:alice"), Option.some(top))
      }
      // The token still reads, at its version.
      assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).version, Number.MAX_SAFE_INTEGER)
      // After a removal (the tombstone keeps the version), a new token is refused too.
      yield* store.remove("alice")
      const removed = yield* kv.get("tokenfx:token:alice")
      const error = yield* Effect.flip(store.compareAndSet("alice", fullToken(3), undefined))
      assert.include(error.message, "2^53 - 1")
      assert.deepStrictEqual(yield* kv.get("tokenfx:token:alice"), removed)
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  // Written by another tool, or corrupted: JSON.parse would round these to 2^53 (or further), a version that
  // would match a compare-and-set meant for another. They are unreadable records, kept aside verbatim.
  for (const version of ["9007199254740992", "9007199254740993", "18446744073709551615", "1e300"]) {
    it.effect(`a stored version of ${version}, past 2^53 - 1, is CorruptedToken, never a rounded version`, () =>
      Effect.gen(function*() {
        const { kv } = yield* setup()
        const raw = yield* KeyValueTokenStore.make()
        const store = RawTokenStore.toTokenStore(raw)
        const record = `{"version":${version},"data":${JSON.stringify(StoredToken.toJson(fullToken(1)))}}`
        const rounded = Number(version)
        yield* kv.set("tokenfx:token:alice", record)
        assert.deepStrictEqual(yield* raw.head!("alice"), { version: 0, stored: false })
        assert.isFalse(yield* raw.remove("alice", rounded), "no removal at the rounded version")
        assert.deepStrictEqual(yield* kv.get("tokenfx:token:alice"), Option.none(), "moved aside by the removal")
        yield* kv.set("tokenfx:token:alice", record)
        const error = yield* Effect.flip(store.get("alice"))
        assert.strictEqual(error._tag, "CorruptedToken")
        if (error._tag !== "CorruptedToken") return
        assert.deepStrictEqual(yield* kv.get(error.movedTo!), Option.some(record), "kept aside, digit for digit")
        yield* kv.set("tokenfx:token:alice", record)
        assert.isTrue(Option.isNone(yield* store.compareAndSet("alice", fullToken(2), rounded)))
      }).pipe(Effect.provide(KeyValueStore.layerMemory)))
  }

  it.effect("a key that is not well-formed UTF-16 is a TokenStoreError", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      const calls: Array<Effect.Effect<unknown, TokenStore.StoreError>> = [
        store.set("user-\uD800", fullToken(1)),
        store.get("user-\uDBFF")
      ]
      for (const call of calls) {
        const error = yield* Effect.flip(call)
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, "not well-formed UTF-16")
      }
      assert.isTrue(Option.isNone(yield* kv.get("tokenfx:keys")), "nothing was written")
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.scoped("over layerFileSystem: a key or prefix the back-end cannot name is a TokenStoreError, not a defect", () =>
    Effect.gen(function*() {
      const dir = yield* tempTokenDirectory
      const onFiles = (options?: KeyValueTokenStore.Options) =>
        KeyValueTokenStore.make(options).pipe(
          Effect.map(RawTokenStore.toTokenStore),
          Effect.provide(KeyValueStore.layerFileSystem(dir))
        )
      const store = yield* onFiles()
      const lone = yield* Effect.flip(store.set("user-\uD800", fullToken(1)))
      assert.strictEqual(lone._tag, "TokenStoreError")
      // The platform's `encodeURIComponent` throws while the effect is built: a failure all the same.
      const badPrefix = yield* onFiles({ prefix: "\uDC00/" })
      const thrown = yield* Effect.flip(badPrefix.set("alice", fullToken(1)))
      assert.strictEqual(thrown._tag, "TokenStoreError")
      assert.include(thrown.message, "URI malformed")
      yield* store.set("alice", fullToken(2))
      assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(2)))
    }).pipe(Effect.provide(NodeLayer)))

  it.effect("head and compareAndSetRemoved: a write after a removal names the tombstone's version", () =>
    Effect.gen(function*() {
      const { kv } = yield* setup()
      const raw = yield* KeyValueTokenStore.make()
      assert.deepStrictEqual(yield* raw.head!("alice"), { version: 0, stored: false })
      assert.deepStrictEqual(yield* raw.compareAndSetRemoved!("alice", { data: "p" }, 0), Option.some(1))
      assert.deepStrictEqual(yield* raw.head!("alice"), { version: 1, stored: true })
      assert.isTrue(Option.isNone(yield* raw.compareAndSetRemoved!("alice", { data: "q" }, 1)), "a payload is stored")
      yield* raw.remove("alice")
      assert.deepStrictEqual(yield* raw.head!("alice"), { version: 1, stored: false })
      assert.isTrue(Option.isNone(yield* raw.compareAndSetRemoved!("alice", { data: "q" }, 0)), "a stale version")
      assert.deepStrictEqual(yield* raw.compareAndSetRemoved!("alice", { data: "q" }, 1), Option.some(2))
      assert.strictEqual(JSON.parse(Option.getOrThrow(yield* kv.get("tokenfx:token:alice"))).data, "q")
      assert.deepStrictEqual(yield* raw.keys, ["alice"])
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))

  it.effect("a key list that does not decode fails keys, and is kept aside and restarted by the next write", () =>
    Effect.gen(function*() {
      const { kv, store } = yield* setup()
      yield* store.set("alice", fullToken(1))
      yield* kv.set("tokenfx:keys", "not a list")
      const error = yield* Effect.flip(store.keys)
      assert.strictEqual(error._tag, "TokenStoreError")
      yield* store.set("bob", fullToken(2))
      assert.deepStrictEqual(yield* store.keys, ["bob"])
      assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(1)), "the entry itself is intact")
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))
})
