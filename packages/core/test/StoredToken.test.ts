import { assert, describe, it } from "@effect/vitest"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { responseBody } from "./utils/arbitraries.js"

const T0 = 1_700_000_000_000

const decode = (body: unknown): Token.TokenResponse => Either.getOrThrow(Token.decodeResponseEither(body))

describe("StoredToken", () => {
  const token = Token.make(
    decode({
      access_token: "at-secret",
      refresh_token: "rt-secret",
      id_token: "id-secret",
      expires_in: 3600,
      refresh_token_expires_in: 60,
      scope: "a b",
      token_type: "dpop"
    }),
    T0
  )

  it("writes the secrets (it is the one place that does) and reads them back", () => {
    const text = StoredToken.toJson(token)
    const json = JSON.parse(text)
    assert.strictEqual(json.format, 1)
    assert.strictEqual(json.token.accessToken, "at-secret")
    assert.strictEqual(json.token.refreshToken, "rt-secret")
    assert.strictEqual(json.token.idToken, "id-secret")
    assert.strictEqual(json.token.expiresAt, "2023-11-14T23:13:20.000Z")
    const back = Either.getOrThrow(StoredToken.fromJson(text))
    assert.isTrue(Token.isToken(back))
    assert.isTrue(Token.Equivalence(back, token))
    assert.strictEqual(StoredToken.toJson(back), text)
  })

  it("is a Schema from JSON text", () => {
    const back = Schema.decodeUnknownSync(StoredToken.StoredToken)(Schema.encodeSync(StoredToken.StoredToken)(token))
    assert.isTrue(Token.Equivalence(back, token))
  })

  it.each([
    ["not JSON", "not a stored token (JSON object with format 1)"],
    ["[]", "not a stored token (JSON object with format 1)"],
    [`{"format":2,"token":{}}`, "format is invalid"],
    [
      `{"format":1,"token":{"accessToken":"at-secret","tokenType":"Bearer","issuedAt":"yesterday","scopes":[]}}`,
      "token.issuedAt is invalid"
    ],
    [
      `{"format":1,"token":{"accessToken":"","tokenType":"Bearer","issuedAt":"2023-11-14T22:13:20.000Z","scopes":[]}}`,
      "token.accessToken is invalid"
    ],
    [
      `{"format":1,"token":{"accessToken":"at-secret","tokenType":"Bearer","issuedAt":"2023-11-14T22:13:20.000Z"}}`,
      "token.scopes is invalid"
    ]
  ])("%s is a MalformedStoredToken: %s", (text, reason) => {
    const error = Either.getOrThrow(Either.flip(StoredToken.fromJson(text)))
    assert.strictEqual(error._tag, "MalformedStoredToken")
    assert.strictEqual(error.reason, reason)
    assert.notInclude(error.message, "at-secret")
  })

  describe("laws", () => {
    it.prop("the storage codec round-trips any token, secrets included", [Arbitrary.make(Token.Token)], ([token]) => {
      const text = StoredToken.toJson(token)
      const back = Either.getOrThrow(StoredToken.fromJson(text))
      assert.isTrue(Token.Equivalence(back, token))
      assert.strictEqual(Redacted.value(back.accessToken), Redacted.value(token.accessToken))
      assert.strictEqual(StoredToken.toJson(back), text)
    })

    it.prop("the storage codec round-trips any token built from a response", [responseBody], ([body]) => {
      const token = Token.make(decode(body), T0)
      assert.isTrue(Token.Equivalence(Either.getOrThrow(StoredToken.fromJson(StoredToken.toJson(token))), token))
    })
  })
})
