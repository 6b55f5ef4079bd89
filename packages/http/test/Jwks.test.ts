import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Json from "@tokenfx/core/Json"
import * as IdToken from "@tokenfx/http/IdToken"
import * as Jwks from "@tokenfx/http/Jwks"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as FakeHttp from "./utils/FakeHttp.js"
import { claims, expected, JWKS_URI, NOW, reasonOf, setup, sign, signer } from "./utils/idTokens.js"

describe("Jwks", () => {
  it.effect("a rotated key is picked up by refetching the set, at most once per cooldown", () =>
    Effect.gen(function*() {
      const { jwks, key, keys } = yield* setup
      yield* IdToken.verify(jwks, yield* sign(key, claims()), expected)
      yield* IdToken.verify(jwks, yield* sign(key, claims()), expected)
      assert.strictEqual(keys.fetches(), 1)

      // The issuer rotates: tokens now name k2, which the cached set lacks.
      const next = yield* signer("k2")
      keys.rotate([key, next])
      yield* TestClock.adjust("31 seconds")
      yield* IdToken.verify(jwks, yield* sign(next, claims({ iat: NOW + 31 })), expected)
      assert.strictEqual(keys.fetches(), 2)

      // Made-up key ids within the cooldown do not reach the issuer.
      const stranger = yield* signer("k-unknown")
      for (let i = 0; i < 5; i++) {
        assert.strictEqual(
          yield* reasonOf(IdToken.verify(jwks, yield* sign(stranger, claims({ iat: NOW + 31 })), expected)),
          "UnknownKey"
        )
      }
      assert.strictEqual(keys.fetches(), 2)
      yield* TestClock.adjust("31 seconds")
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, yield* sign(stranger, claims({ iat: NOW + 62 })), expected)),
        "UnknownKey"
      )
      assert.strictEqual(keys.fetches(), 3)
    }))

  it.effect("the set is fetched again once older than maxAge; concurrent callers share one fetch", () =>
    Effect.gen(function*() {
      const { jwks, key, keys } = yield* setup
      const token = yield* sign(key, claims({ exp: NOW + 3600 }))
      yield* Effect.all(Array.from({ length: 10 }, () => IdToken.verify(jwks, token, expected)), {
        concurrency: "unbounded"
      })
      assert.strictEqual(keys.fetches(), 1)
      yield* TestClock.adjust("11 minutes")
      yield* IdToken.verify(jwks, yield* sign(key, claims({ iat: NOW + 660, exp: NOW + 3600 })), expected)
      assert.strictEqual(keys.fetches(), 2)
    }))

  it.effect("private key members an issuer publishes by mistake are dropped, and a broken set is typed", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
      const leaked = { ...(yield* Effect.promise(() => jose.exportJWK(privateKey))), kid: "k1", alg: "ES256" }
      const server = FakeHttp.make([FakeHttp.json({ keys: [leaked] })])
      const jwks = yield* Jwks.make({ uri: JWKS_URI }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))
      const token = yield* Effect.promise(() =>
        new jose.SignJWT(claims()).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(privateKey)
      )
      // Verifies with the public half.
      yield* IdToken.verify(jwks, Redacted.make(token), expected)

      const broken = FakeHttp.make([FakeHttp.json({ keys: "none" })])
      const jwks2 = yield* Jwks.make({ uri: JWKS_URI }).pipe(
        Effect.provideService(HttpClient.HttpClient, broken.client)
      )
      const error = yield* Effect.flip(IdToken.verify(jwks2, Redacted.make(token), expected))
      assert.strictEqual(error._tag, "MalformedResponse")
    }))
})

describe("Jwks when the issuer's key set is unreachable", () => {
  it.effect("a stale set keeps verifying and is tried again after the cooldown; no set at all is an error", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      let up = true
      const server = FakeHttp.make(() => up ? FakeHttp.json({ keys: [key.publicJwk] }) : FakeHttp.refused)
      const jwks = yield* Jwks.make({ uri: JWKS_URI, backoff: { maxAttempts: 1 } }).pipe(
        Effect.provideService(HttpClient.HttpClient, server.client)
      )
      const token = (at: number) => sign(key, claims({ iat: at, exp: at + 300 }))
      yield* IdToken.verify(jwks, yield* token(NOW), expected)
      up = false
      yield* TestClock.adjust("11 minutes")
      yield* IdToken.verify(jwks, yield* token(NOW + 660), expected)
      yield* IdToken.verify(jwks, yield* token(NOW + 660), expected)
      assert.strictEqual(server.requests.length, 2)
      yield* TestClock.adjust("31 seconds")
      up = true
      yield* IdToken.verify(jwks, yield* token(NOW + 691), expected)
      assert.strictEqual(server.requests.length, 3)

      const down = FakeHttp.make([FakeHttp.refused])
      const none = yield* Jwks.make({ uri: JWKS_URI, backoff: { maxAttempts: 1 } }).pipe(
        Effect.provideService(HttpClient.HttpClient, down.client)
      )
      const error = yield* Effect.flip(IdToken.verify(none, yield* token(NOW + 691), expected))
      assert.strictEqual(error._tag, "TransportError")
    }))
})

describe("Jwks.KeySet", () => {
  it("drops __proto__, constructor and prototype members of a key, whoever parsed the JSON", () => {
    const set = Schema.decodeUnknownSync(Jwks.KeySet)(
      JSON.parse(`{"keys":[{"kty":"EC","__proto__":{"d":"private"},"constructor":{},"prototype":1}]}`)
    )
    const key = set.keys[0]!
    assert.strictEqual(Object.getPrototypeOf(key), Object.prototype)
    assert.isUndefined(key["d"])
    for (const name of Json.forbiddenKeys) assert.isFalse(Object.hasOwn(key, name), name)
    assert.strictEqual(key["kty"], "EC")
  })
})
