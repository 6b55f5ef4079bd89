import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as KeyValueTokenStore from "@tokenfx/storage/KeyValueTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Util from "node:util"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

// A payload store kept in memory, so that tests can read and alter what is stored.
const memoryRaw = KeyValueTokenStore.make().pipe(Effect.provide(KeyValueStore.layerMemory))

const ring = (current: Redacted.Redacted<string>, ...previous: Array<Redacted.Redacted<string>>) =>
  EncryptedTokenStore.makeKeyRing({ current, previous })

const storeOf = (raw: RawTokenStore.RawTokenStore["Type"], keyRing: EncryptedTokenStore.KeyRing) =>
  RawTokenStore.toTokenStore(EncryptedTokenStore.encrypt(raw, keyRing))

const stored = (raw: RawTokenStore.RawTokenStore["Type"], key: string) => Effect.map(raw.get(key), Option.getOrThrow)

const sealedBefore =
  "tfx2.fe6407fc01b6e7bd.iXXvBlVxZOkWMnDp.MjQbztMU4yxIc-q0PfGPQ845zcUdCIbLqk67YZwdqj9CJrOU6VSSdKwndV1Sg5N" +
  "FdIrnWfZeLtmvoo85zCyj0ksXcvN6sSn-a_QEQCMlWxltjRu6qq3W4c0r7jf-HJG57jHq6Qt2Tm4ouSCZ7xnsZb7E9NgJd8Q5HQz8uIMmBGgXJHC5ExLWPC" +
  "CTxsGcmsKDQ9EbvLKVhAV5yZMLOtopb43Acr3uHROUHW1He__PRyFQtp_IgUmAcfdHwYQeoHyS_i5gVVF1kYzd8Vf13fYDJpC51GoWbZFjOkYOamvvaAeX" +
  "85YY_Dq-79TdJTJ5_v0z4uPw5ElFVtB4aXJimbXuFtq7Ow5eUfEqOE2jDmDojuitLluR98soPGjVw1y752bhnsjO3svtJhYNcbrMYnxkBrXZCbdx"

const keyIdOf = (data: string) => data.split(".")[1]

const readToken = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), (entry) => Option.getOrThrow(entry).token)

describe("EncryptedTokenStore", () => {
  it.effect("round-trips, and what is stored is a ciphertext, not the token", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      yield* store.set("alice", fullToken(1))
      assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(1)))
      const { data } = yield* stored(raw, "alice")
      assert.match(data, /^tfx2\.[0-9a-f]{16}\.[\w-]+\.[\w-]+$/)
      for (const secret of ["access-1", "refresh-1", "id-1", "openid"]) assert.notInclude(data, secret)
      // A fresh IV per write: the same token never encrypts the same way twice.
      yield* store.set("bob", fullToken(1))
      assert.notStrictEqual((yield* stored(raw, "bob")).data.split(".")[3], data.split(".")[3])
    }))

  it.effect("keys rotate: old tokens decrypt with a previous key, new writes use the current one", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const oldKey = yield* EncryptedTokenStore.generateKey
      const newKey = yield* EncryptedTokenStore.generateKey
      const before = storeOf(raw, yield* ring(oldKey))
      yield* before.set("alice", fullToken(1))
      const oldId = keyIdOf((yield* stored(raw, "alice")).data)

      const rotated = storeOf(raw, yield* ring(newKey, oldKey))
      assert.isTrue(Token.Equivalence(yield* readToken(rotated, "alice"), fullToken(1)))
      const entry = Option.getOrThrow(yield* rotated.get("alice"))
      yield* rotated.compareAndSet("alice", fullToken(2), entry.version)
      const newId = keyIdOf((yield* stored(raw, "alice")).data)
      assert.notStrictEqual(newId, oldId)

      // Once rewritten, the old key is no longer needed...
      const after = storeOf(raw, yield* ring(newKey))
      assert.isTrue(Token.Equivalence(yield* readToken(after, "alice"), fullToken(2)))
      // ...and a store that only knows the old key cannot read it.
      const error = yield* Effect.flip(before.get("alice"))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.include(error.message, newId)
    }))

  it.effect("a token written under a key the ring does not hold is InsecureStorage, and stays where it is", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const writer = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      yield* writer.set("alice", fullToken(1))
      const reader = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      const error = yield* Effect.flip(reader.get("alice"))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.include(error.message, "not in the key ring")
      assert.isTrue(Token.Equivalence(yield* readToken(writer, "alice"), fullToken(1)), "not moved")
    }))

  it.effect("a tampered ciphertext is CorruptedToken, wherever the change", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      const original = yield* store.set("alice", fullToken(1))
      const { data } = yield* stored(raw, "alice")
      const parts = data.split(".")
      const flip = (text: string, at: number) => {
        const bytes = Either.getOrThrow(Encoding.decodeBase64Url(text))
        bytes[at % bytes.length] ^= 1
        return Encoding.encodeBase64Url(bytes)
      }
      const tampered = [
        [parts[0], parts[1], flip(parts[2], 0), parts[3]].join("."), // the IV
        [parts[0], parts[1], parts[2], flip(parts[3], 0)].join("."), // the ciphertext
        [parts[0], parts[1], parts[2], flip(parts[3], 1_000_000)].join("."), // somewhere further on
        [parts[0], parts[1], parts[2], flip(parts[3], -1 >>> 0)].join("."), // the tag
        [parts[0], parts[1], parts[2], parts[3].slice(0, -4)].join("."), // truncated
        "tfx1.not.even.base64!", // malformed
        StoredToken.toJson(fullToken(666)) // a plaintext token planted in an encrypted store
      ]
      for (const data of tampered) {
        yield* raw.set("alice", { data })
        const error = yield* Effect.flip(store.get("alice"))
        assert.strictEqual(error._tag, "CorruptedToken", data.slice(0, 20))
        assert.notInclude(error.message, "access")
        // Kept aside, not deleted: the key reads as empty afterwards.
        assert.isDefined((error as TokenStore.CorruptedToken).movedTo)
        assert.isTrue(Option.isNone(yield* store.get("alice")))
      }
      assert.isAbove(original.version, 0)
    }))

  it.effect("a ciphertext moved to another key does not decrypt (the key is authenticated)", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      yield* store.set("alice", fullToken(1))
      yield* store.set("mallory", fullToken(2))
      // Mallory, who can write the store but not read it, swaps Alice's token into her own row.
      yield* raw.set("mallory", { data: (yield* stored(raw, "alice")).data })
      const error = yield* Effect.flip(store.get("mallory"))
      assert.strictEqual(error._tag, "CorruptedToken")
      assert.include(error.message, "another key")
      assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(1)))
    }))

  it.scoped("keys that differ only in a lone surrogate are authenticated apart (over files, which keep them)", () =>
    Effect.gen(function*() {
      const raw = yield* FileTokenStore.make(yield* tempTokenDirectory)
      const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      // As UTF-8 both are "user-\uFFFD": the authenticated data must not be built from that.
      const alice = "user-\uD800"
      const mallory = "user-\uDBFF"
      yield* store.set(alice, fullToken(1))
      yield* raw.set(mallory, { data: (yield* stored(raw, alice)).data })
      const error = yield* Effect.flip(store.get(mallory))
      assert.strictEqual(error._tag, "CorruptedToken")
      assert.isTrue(Token.Equivalence(yield* readToken(store, alice), fullToken(1)))
    }).pipe(Effect.provide(NodeLayer)))

  it.effect("a token stored before this version still decrypts (the authenticated data of a key is unchanged)", () =>
    Effect.gen(function*() {
      const raw = yield* memoryRaw
      // Sealed for "alice" at version 1 by 0.x, under this test-only key.
      const key = Redacted.make("q2z8Kx1fV0mJb7wYcT4nP3sLh6uRg9dE5aWoXkN2iQs=")
      yield* raw.set("alice", { data: sealedBefore })
      assert.isTrue(Token.Equivalence(yield* readToken(storeOf(raw, yield* ring(key)), "alice"), fullToken(1)))
    }))

  describe("a write after a removal", () => {
    // The back-end, with another process's reader getting the key right after the writer's next write.
    const interleaved = (base: RawTokenStore.RawTokenStore["Type"], keyRing: EncryptedTokenStore.KeyRing) => {
      const reader = storeOf(base, keyRing)
      const seen: Array<string> = []
      const hook = { armed: false }
      const read = (key: string) =>
        !hook.armed ? Effect.void : Effect.tap(Effect.either(reader.get(key)), (result) => {
          hook.armed = false
          seen.push(Either.isRight(result) ? "token" : result.left._tag)
        })
      const hooked: RawTokenStore.RawTokenStore["Type"] = {
        ...base,
        compareAndSet: (key, payload, expected) =>
          Effect.tap(base.compareAndSet(key, payload, expected), () => read(key)),
        compareAndSetRemoved: base.compareAndSetRemoved &&
          ((key, payload, version) => Effect.tap(base.compareAndSetRemoved!(key, payload, version), () => read(key)))
      }
      return { writer: storeOf(hooked, keyRing), seen, hook }
    }

    const scenario = (base: RawTokenStore.RawTokenStore["Type"]) =>
      Effect.gen(function*() {
        const keyRing = yield* ring(yield* EncryptedTokenStore.generateKey)
        const { hook, seen, writer } = interleaved(base, keyRing)
        yield* writer.set("alice", fullToken(1))
        assert.isTrue(yield* writer.remove("alice"))
        hook.armed = true
        const written = Option.getOrThrow(yield* writer.compareAndSet("alice", fullToken(2), undefined))
        const after = Option.getOrThrow(yield* storeOf(base, keyRing).get("alice"))
        assert.strictEqual(after.version, written.version)
        assert.isTrue(Token.Equivalence(after.token, fullToken(2)))
        return seen
      })

    it.effect("is sealed for its final version in one write: a reader in between reads it", () =>
      Effect.gen(function*() {
        const seen = yield* scenario(yield* memoryRaw)
        assert.deepStrictEqual(seen, ["token"])
      }))

    it.scoped("over files: is sealed for its final version in one write, a reader in between reads it", () =>
      Effect.gen(function*() {
        const seen = yield* scenario(yield* FileTokenStore.make(yield* tempTokenDirectory))
        assert.deepStrictEqual(seen, ["token"])
      }).pipe(Effect.provide(NodeLayer)))

    // Live: the two stores wait for each other's lock files on the real clock.
    it.scopedLive("over files: a reader running beside removals and rewrites never finds a corrupted token", () =>
      Effect.gen(function*() {
        const dir = yield* tempTokenDirectory
        const keyRing = yield* ring(yield* EncryptedTokenStore.generateKey)
        // Two stores on one directory, as two processes would have: only the files are shared.
        const writer = storeOf(yield* FileTokenStore.make(dir), keyRing)
        const reader = storeOf(yield* FileTokenStore.make(dir), keyRing)
        const done = { value: false }
        const failures: Array<string> = []
        let reads = 0
        const readLoop = Effect.whileLoop({
          while: () => !done.value,
          body: () => Effect.either(reader.get("alice")),
          step: (result) => {
            reads++
            if (Either.isLeft(result)) failures.push(result.left._tag)
          }
        })
        const fiber = yield* Effect.fork(readLoop)
        yield* writer.set("alice", fullToken(0))
        for (let i = 1; i <= 40; i++) {
          assert.isTrue(yield* writer.remove("alice"))
          const written = yield* writer.compareAndSet("alice", fullToken(i), undefined)
          assert.isTrue(Option.isSome(written), `write ${i} after a removal is stored`)
          yield* Effect.yieldNow()
        }
        done.value = true
        yield* Fiber.join(fiber)
        assert.deepStrictEqual(failures, [], `${failures.length} of ${reads} reads failed`)
        assert.isTrue(Token.Equivalence(yield* readToken(writer, "alice"), fullToken(40)))
      }).pipe(Effect.provide(NodeLayer)))

    it.effect("concurrent writes after a removal: exactly one wins, and it is the one stored", () =>
      Effect.gen(function*() {
        const raw = yield* memoryRaw
        const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
        yield* store.set("alice", fullToken(1))
        yield* store.remove("alice")
        const results = yield* Effect.all(
          [2, 3, 4, 5, 6].map((i) =>
            Effect.map(store.compareAndSet("alice", fullToken(i), undefined), (r) => [i, r] as const)
          ),
          { concurrency: "unbounded" }
        )
        const winners = results.filter(([, r]) => Option.isSome(r))
        assert.strictEqual(winners.length, 1)
        const [i, written] = winners[0]
        const after = Option.getOrThrow(yield* store.get("alice"))
        assert.strictEqual(after.version, Option.getOrThrow(written).version)
        assert.isTrue(Token.Equivalence(after.token, fullToken(i)))
      }))

    it.effect("over a back-end without head, a reader in between loses nothing: the write is made again", () =>
      Effect.gen(function*() {
        const { compareAndSetRemoved: _, head: __, ...legacy } = yield* memoryRaw
        // The reader finds the first ciphertext sealed for version 1 at version 2 and quarantines it.
        const seen = yield* scenario(legacy)
        assert.deepStrictEqual(seen, ["CorruptedToken"])
      }))
  })

  it.scoped("over files: a tampered file is kept aside", () =>
    Effect.gen(function*() {
      const dir = yield* tempTokenDirectory
      const raw = yield* FileTokenStore.make(dir)
      const store = storeOf(raw, yield* ring(yield* EncryptedTokenStore.generateKey))
      yield* store.set("alice", fullToken(1))
      const name = Fs.readdirSync(dir).find((n) => n.endsWith(".json"))!
      const file = `${dir}/${name}`
      const envelope = JSON.parse(Fs.readFileSync(file, "utf8"))
      assert.notInclude(Fs.readFileSync(file, "utf8"), "access-1")
      const data: string = envelope.data
      Fs.writeFileSync(
        file,
        JSON.stringify({ ...envelope, data: data.slice(0, -2) + (data.endsWith("A") ? "BB" : "AA") })
      )
      const error = yield* Effect.flip(store.get("alice"))
      assert.strictEqual(error._tag, "CorruptedToken")
      if (error._tag !== "CorruptedToken") return
      assert.isTrue(Fs.existsSync(error.movedTo!))
      assert.isTrue(Option.isNone(yield* store.get("alice")))
    }).pipe(Effect.provide(NodeLayer)))

  describe("keys", () => {
    const viaConfig = (env: Record<string, string>) =>
      Effect.gen(function*() {
        const raw = yield* memoryRaw
        return yield* Effect.provide(
          TokenStore.TokenStore,
          EncryptedTokenStore.layerConfig().pipe(Layer.provide(Layer.succeed(RawTokenStore.RawTokenStore, raw)))
        )
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))

    it.effect("reads the key ring from configuration, previous keys included", () =>
      Effect.gen(function*() {
        const oldKey = Redacted.value(yield* EncryptedTokenStore.generateKey)
        const newKey = Redacted.value(yield* EncryptedTokenStore.generateKey)
        const raw = yield* memoryRaw
        yield* storeOf(raw, yield* ring(Redacted.make(oldKey))).set("alice", fullToken(1))
        const store = yield* Effect.provide(
          TokenStore.TokenStore,
          EncryptedTokenStore.layerConfig().pipe(Layer.provide(Layer.succeed(RawTokenStore.RawTokenStore, raw)))
        ).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(
            new Map([["TOKENFX_ENCRYPTION_KEY", newKey], ["TOKENFX_ENCRYPTION_PREVIOUS_KEYS", `${oldKey}`]])
          ))
        )
        assert.isTrue(Token.Equivalence(yield* readToken(store, "alice"), fullToken(1)))
      }))

    it.effect("a missing key is InsecureStorage naming the setting", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(viaConfig({}))
        assert.strictEqual(error._tag, "InsecureStorage")
        assert.include(error.message, "TOKENFX_ENCRYPTION_KEY")
      }))

    it.effect("a malformed key is InsecureStorage that does not print the key", () =>
      Effect.gen(function*() {
        const short = Encoding.encodeBase64(new Uint8Array(16).fill(7))
        for (const [key, expected] of [[short, "16 bytes"], ["not base64 at all!", "not base64"], ["", "0 bytes"]]) {
          const error = yield* Effect.flip(viaConfig({ TOKENFX_ENCRYPTION_KEY: key }))
          assert.strictEqual(error._tag, "InsecureStorage")
          assert.include(error.message, expected)
          if (key.length > 0) assert.notInclude(error.message, key)
        }
        const good = Redacted.value(yield* EncryptedTokenStore.generateKey)
        const error = yield* Effect.flip(
          viaConfig({ TOKENFX_ENCRYPTION_KEY: good, TOKENFX_ENCRYPTION_PREVIOUS_KEYS: short })
        )
        assert.include(error.message, "previous encryption key")
      }))

    it.effect("a key in the URL alphabet is accepted; a key ring never shows its keys", () =>
      Effect.gen(function*() {
        // Random-looking bytes (a weak key is refused) with 0xfb, which base64url spells with "-" or "_".
        const bytes = Uint8Array.from(Crypto.createHash("sha256").update("url-alphabet").digest())
        bytes[0] = bytes[1] = 0xfb
        const keyRing = yield* ring(Redacted.make(Encoding.encodeBase64Url(bytes)))
        const same = yield* ring(Redacted.make(Encoding.encodeBase64(bytes)))
        assert.strictEqual(keyRing.current, same.current)
        const shown = `${String(keyRing)} ${JSON.stringify(keyRing)} ${Util.inspect(keyRing, { depth: 10 })}`
        assert.notInclude(shown, Encoding.encodeBase64Url(bytes))
        assert.notInclude(shown, Encoding.encodeHex(bytes).slice(0, 12))
        assert.notInclude(shown, "251, 251")
      }))
  })
})
