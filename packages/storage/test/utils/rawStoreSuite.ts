/**
 * Laws of `RawTokenStore` beyond the `TokenStore` suite, run against every back-end:
 *
 * - `head` and `compareAndSetRemoved`: a write after a removal is one conditional write, so that the
 *   encrypted store seals it for its final version and a reader in between never finds a ciphertext
 *   that does not open.
 * - A lease is what it reads back: an owner the store could not read back is refused, never granted
 *   and then taken for no lease.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { freshKey, fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const required = (raw: RawTokenStore.RawTokenStore["Type"]) => {
  const { compareAndSetRemoved, head } = raw
  assert.isDefined(head, "the store implements head")
  assert.isDefined(compareAndSetRemoved, "the store implements compareAndSetRemoved")
  return { head: head!, compareAndSetRemoved: compareAndSetRemoved! }
}

export const rawStoreSuite = <E>(name: string, layer: Layer.Layer<RawTokenStore.RawTokenStore, E>): void => {
  const test = (title: string, body: (raw: RawTokenStore.RawTokenStore["Type"]) => Effect.Effect<void, unknown>) =>
    it.scoped(title, () => Effect.flatMap(RawTokenStore.RawTokenStore, body).pipe(Effect.provide(layer)))

  describe(`RawTokenStore head and compareAndSetRemoved: ${name}`, () => {
    test("a never-written key is at version 0; a write there gets version 1", (raw) =>
      Effect.gen(function*() {
        const { compareAndSetRemoved, head } = required(raw)
        const key = freshKey("head-fresh")
        assert.deepStrictEqual(yield* head(key), { version: 0, stored: false })
        assert.deepStrictEqual(yield* compareAndSetRemoved(key, { data: "p" }, 0), Option.some(1))
        assert.deepStrictEqual(yield* head(key), { version: 1, stored: true })
        assert.deepStrictEqual(yield* raw.get(key), Option.some({ data: "p", version: 1 }))
      }))

    test("refused while a payload is stored, or for a stale tombstone version; the payload untouched", (raw) =>
      Effect.gen(function*() {
        const { compareAndSetRemoved, head } = required(raw)
        const key = freshKey("head-refused")
        assert.strictEqual(yield* raw.set(key, { data: "p" }), 1)
        assert.isTrue(Option.isNone(yield* compareAndSetRemoved(key, { data: "q" }, 1)), "a payload is stored")
        assert.isTrue(Option.isNone(yield* compareAndSetRemoved(key, { data: "q" }, 0)), "a payload is stored")
        assert.deepStrictEqual(yield* raw.get(key), Option.some({ data: "p", version: 1 }))
        assert.isTrue(yield* raw.remove(key))
        assert.deepStrictEqual(yield* head(key), { version: 1, stored: false })
        assert.isTrue(Option.isNone(yield* compareAndSetRemoved(key, { data: "q" }, 0)), "a stale version")
        assert.isTrue(Option.isNone(yield* compareAndSetRemoved(key, { data: "q" }, 2)), "a future version")
        assert.isTrue(Option.isNone(yield* raw.get(key)))
        assert.deepStrictEqual(yield* compareAndSetRemoved(key, { data: "q" }, 1), Option.some(2))
        assert.deepStrictEqual(yield* raw.get(key), Option.some({ data: "q", version: 2 }))
        assert.deepStrictEqual(yield* head(key), { version: 2, stored: true })
      }))

    test("concurrent writes after a removal: exactly one wins, and it is the one stored", (raw) =>
      Effect.gen(function*() {
        const { compareAndSetRemoved } = required(raw)
        const key = freshKey("head-race")
        yield* raw.set(key, { data: "p" })
        yield* raw.remove(key)
        const results = yield* Effect.all(
          ["a", "b", "c", "d"].map((data) =>
            Effect.map(compareAndSetRemoved(key, { data }, 1), (r) => [data, r] as const)
          ),
          { concurrency: "unbounded" }
        )
        const winners = results.filter(([, r]) => Option.isSome(r))
        assert.strictEqual(winners.length, 1)
        assert.deepStrictEqual(yield* raw.get(key), Option.some({ data: winners[0][0], version: 2 }))
      }))

    test("encrypted: a reader right after a write that follows a removal reads the token", (base) =>
      Effect.gen(function*() {
        const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
        const key = freshKey("head-encrypted")
        const reader = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(base, keyRing))
        const seen: Array<string> = []
        const armed = { value: false }
        // Another reader gets the key right after each of the writer's conditional writes.
        const read = Effect.suspend(() =>
          !armed.value ? Effect.void : Effect.map(Effect.either(reader.get(key)), (result) => {
            seen.push(Either.isRight(result) ? "token" : result.left._tag)
          })
        )
        const hooked: RawTokenStore.RawTokenStore["Type"] = {
          ...base,
          compareAndSet: (k, payload, expected) => Effect.tap(base.compareAndSet(k, payload, expected), () => read),
          compareAndSetRemoved: base.compareAndSetRemoved &&
            ((k, payload, version) => Effect.tap(base.compareAndSetRemoved!(k, payload, version), () => read))
        }
        const writer = RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(hooked, keyRing))
        yield* writer.set(key, fullToken(1))
        assert.isTrue(yield* writer.remove(key))
        armed.value = true
        const written = Option.getOrThrow(yield* writer.compareAndSet(key, fullToken(2), undefined))
        armed.value = false
        assert.deepStrictEqual(seen, ["token"])
        const after = Option.getOrThrow(yield* reader.get(key))
        assert.strictEqual(after.version, written.version)
        assert.isTrue(Token.Equivalence(after.token, fullToken(2)))
      }))
  })

  describe(`RawTokenStore leases with long owners: ${name}`, () => {
    // 2 MiB of plain characters, and 300,000 control characters that JSON writes six bytes each.
    const owners = [["2 MiB", "o".repeat(2 * 1024 * 1024)], ["escaped to 1.8 MB", "\u0001".repeat(300_000)]]
    for (const [label, owner] of owners) {
      test(`an owner of ${label}: refused with TokenStoreError, or held as any other`, (raw) =>
        Effect.gen(function*() {
          const key = freshKey("lease-owner")
          const acquired = yield* Effect.either(raw.acquireLease(key, owner, "1 minute"))
          if (Either.isLeft(acquired)) {
            assert.strictEqual(acquired.left._tag, "TokenStoreError")
            // Nothing was written: the lease is free.
            assert.isTrue(yield* raw.acquireLease(key, "other", "1 minute"))
            return
          }
          assert.isTrue(acquired.right)
          assert.isFalse(yield* raw.acquireLease(key, "other", "1 minute"), "the lease keeps another owner out")
          assert.isTrue(yield* raw.renewLease(key, owner, "1 minute"), "its owner holds it")
        }))
    }
  })
}
