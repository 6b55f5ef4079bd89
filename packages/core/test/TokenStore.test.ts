import { assert, describe, it } from "@effect/vitest"
import * as TokenStore from "@tokenfx/core/TokenStore"
import { fullToken, tokenStoreSuite } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

tokenStoreSuite("memory", TokenStore.layerMemory)

describe("TokenStore", () => {
  it.effect("each memory store is its own", () =>
    Effect.gen(function*() {
      const a = yield* TokenStore.makeMemory
      const b = yield* TokenStore.makeMemory
      yield* a.set("user", fullToken(1))
      assert.isTrue(Option.isNone(yield* b.get("user")))
      assert.strictEqual(yield* b.size, 0)
      assert.deepStrictEqual(yield* a.keys, ["user"])
    }))

  it.effect("a new key starts at version 1 and grows by one", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory
      assert.strictEqual((yield* store.set("k", fullToken(1))).version, 1)
      assert.strictEqual((yield* store.set("k", fullToken(2))).version, 2)
      assert.strictEqual(Option.getOrThrow(yield* store.compareAndSet("k", fullToken(3), 2)).version, 3)
    }))

  it.effect("a removed key keeps its version, and is neither listed nor counted until written again", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory
      yield* store.set("a", fullToken(1))
      const b = yield* store.set("b", fullToken(2))
      assert.isTrue(yield* store.remove("a"))
      assert.strictEqual(yield* store.size, 1)
      assert.deepStrictEqual(yield* store.keys, ["b"])
      assert.strictEqual((yield* store.stats()).total, 1)
      assert.strictEqual((yield* store.set("a", fullToken(3))).version, 2)
      assert.strictEqual(yield* store.size, 2)
      assert.sameMembers([...(yield* store.keys)], ["a", "b"])
      assert.isTrue(yield* store.remove("b", b.version))
      assert.isTrue(yield* store.remove("a"))
      assert.strictEqual(yield* store.size, 0)
      assert.deepStrictEqual(yield* store.keys, [])
    }))

  it("store errors are recognised by isStoreError and name the key, not the token", () => {
    const errors = [
      new TokenStore.TokenStoreError({ operation: "write", key: "user-1", description: "disk full" }),
      new TokenStore.CorruptedToken({ key: "user-1", reason: "not JSON", movedTo: "/tmp/user-1.corrupt" }),
      new TokenStore.InsecureStorage({ key: "user-1", reason: "token file is readable by others" })
    ]
    for (const error of errors) {
      assert.isTrue(TokenStore.isStoreError(error))
      assert.include(error.message, "user-1")
    }
    assert.strictEqual(errors[0].message, `write "user-1": disk full`)
    assert.include(errors[1].message, "kept aside as /tmp/user-1.corrupt")
    assert.isFalse(TokenStore.isStoreError(new Error("x")))
  })
})
