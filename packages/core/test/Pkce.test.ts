import { assert, describe, it } from "@effect/vitest"
import * as Pkce from "@tokenfx/core/Pkce"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"

const unreserved = /^[A-Za-z0-9\-._~]+$/
const base64url43 = /^[A-Za-z0-9_-]{43}$/

describe("Pkce", () => {
  it.effect("the challenge of RFC 7636 appendix B's verifier is E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", () =>
    Effect.gen(function*() {
      const challenge = yield* Pkce.challenge(Redacted.make("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
      assert.strictEqual(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }))

  it.effect("a fresh verifier is 43 unreserved characters, different every time", () =>
    Effect.gen(function*() {
      const verifiers = yield* Effect.all(Array.from({ length: 16 }, () => Pkce.verifier()))
      const values = verifiers.map(Redacted.value)
      for (const value of values) {
        assert.strictEqual(value.length, 43)
        assert.match(value, unreserved)
        assert.isTrue(Schema.is(Pkce.Verifier)(value))
      }
      assert.strictEqual(new Set(values).size, values.length)
    }))

  it.effect.each([
    [32, 43],
    [33, 44],
    [96, 128],
    [1, 43],
    [0, 43],
    [1000, 128],
    [40.7, 54],
    [Number.NaN, 43]
  ])("verifier(%d) is %d characters, always within RFC 7636's bounds", ([bytes, length]) =>
    Effect.gen(function*() {
      const value = Redacted.value(yield* Pkce.verifier(bytes))
      assert.strictEqual(value.length, length)
      assert.match(value, unreserved)
    }))

  it.effect("make pairs a fresh verifier with its S256 challenge", () =>
    Effect.gen(function*() {
      const pkce = yield* Pkce.make
      assert.strictEqual(pkce.method, "S256")
      assert.match(pkce.challenge, base64url43)
      assert.strictEqual(pkce.challenge, yield* Pkce.challenge(pkce.verifier))
      assert.notStrictEqual((yield* Pkce.make).challenge, pkce.challenge)
    }))

  it.effect.each([
    ["42 characters", "a".repeat(42)],
    ["129 characters", "a".repeat(129)],
    ["a character outside the unreserved set", `${"a".repeat(42)}+`],
    ["a space", `${"a".repeat(42)} `],
    ["empty", ""]
  ])("a verifier with %s is an InvalidVerifier", ([, verifier]) =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pkce.challenge(Redacted.make(verifier)))
      assert.strictEqual(error._tag, "InvalidVerifier")
      assert.strictEqual(error.length, verifier.length)
      assert.isFalse(Schema.is(Pkce.Verifier)(verifier))
      if (verifier.length > 0) assert.notInclude(error.message, verifier)
    }))

  it.effect("the Verifier schema accepts the bounds", () =>
    Effect.gen(function*() {
      for (const verifier of ["a".repeat(43), "Z9-._~".repeat(21) + "ab"]) {
        assert.isTrue(Schema.is(Pkce.Verifier)(verifier))
        assert.match(yield* Pkce.challenge(Redacted.make(verifier)), base64url43)
      }
    }))

  it.effect.prop(
    "the challenge is BASE64URL(SHA256(verifier)) for any valid verifier",
    [FastCheck.stringMatching(/^[A-Za-z0-9\-._~]{43,128}$/)],
    ([verifier]) =>
      Effect.gen(function*() {
        const expected = createHash("sha256").update(verifier, "ascii").digest("base64url")
        assert.strictEqual(yield* Pkce.challenge(Redacted.make(verifier)), expected)
      }),
    { fastCheck: { numRuns: 50 } }
  )

  it.effect("state and nonce are 256 random bits, base64url, never repeated", () =>
    Effect.gen(function*() {
      const values = yield* Effect.all([Pkce.state, Pkce.state, Pkce.nonce, Pkce.nonce])
      for (const value of values) assert.match(value, base64url43)
      assert.strictEqual(new Set(values).size, values.length)
      assert.strictEqual((yield* Pkce.randomString(12)).length, 16)
    }))
})
