/**
 * Small hostile inputs that used to kill a fiber: a `__proto__` member, deep nesting, huge numbers.
 * Each must be a typed error (or a sane value), never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as Json from "@tokenfx/core/Json"
import * as Jwt from "@tokenfx/core/Jwt"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as RetryAfter from "@tokenfx/core/RetryAfter"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

const b64 = (text: string) => Encoding.encodeBase64Url(text)

describe("hostile input", () => {
  describe("__proto__", () => {
    const bodies = [
      `{"access_token":"a","__proto__":{"scope":{}}}`,
      `{"access_token":"a","__proto__":{"token_type":1}}`,
      `{"access_token":"a","__proto__":{"refresh_token":{}}}`,
      `{"access_token":"a","__proto__":{"id_token":[]}}`,
      `{"access_token":"a","__proto__":{"expires_in":"x"}}`
    ]
    for (const body of bodies) {
      it(`a token response cannot set its prototype: ${body}`, () => {
        const decoded = Token.decodeResponseEither(JSON.parse(body))
        assert.isTrue(Either.isRight(decoded))
        const response = Either.getOrThrow(decoded)
        assert.strictEqual(Object.getPrototypeOf(response), Object.prototype)
        const token = Token.make(response, 0)
        assert.strictEqual(token.tokenType, "Bearer")
        assert.deepStrictEqual(token.scopes, [])
        assert.isUndefined(token.refreshToken)
        assert.isUndefined(token.idToken)
      })
    }

    it("JWT claims cannot set their prototype", () => {
      const jwt = `${b64(`{"alg":"none"}`)}.${b64(`{"sub":"u","__proto__":{"exp":"soon"}}`)}.sig`
      const claims = Either.getOrThrow(Jwt.claimsEither(jwt))
      assert.strictEqual(Object.getPrototypeOf(claims), Object.prototype)
      assert.isUndefined(claims.exp)
      assert.isUndefined(Jwt.expiresAtMillis(jwt))
    })

    it("ID token claims cannot set a prototype, at any depth: decoded, or read back from a store", () => {
      const claims = `{"iss":"i","sub":"u","aud":"c","exp":2,"iat":1,"__proto__":{"polluted":1},"constructor":{},` +
        `"address":{"__proto__":{"polluted":1},"prototype":{},"country":"NL"},"groups":[{"__proto__":[]}]}`
      const decoded = Schema.decodeUnknownSync(Token.IdTokenClaims)(JSON.parse(claims))
      const token = new Token.Token({ ...Token.make({ access_token: Redacted.make("a") }, 0), idTokenClaims: decoded })
      const stored = StoredToken.toJson(token).replace(
        `"idTokenClaims":{`,
        `"idTokenClaims":{"__proto__":{"polluted":1},`
      )
      assert.include(stored, `"idTokenClaims":{"__proto__"`)
      const read = Either.getOrThrow(StoredToken.fromJson(stored)).idTokenClaims!
      for (const result of [decoded, read]) {
        const address = result["address"] as Record<string, unknown>
        for (const object of [result, address, (result["groups"] as Array<object>)[0]]) {
          assert.strictEqual(Object.getPrototypeOf(object), Object.prototype)
          for (const name of Json.forbiddenKeys) assert.isFalse(Object.hasOwn(object, name), name)
        }
        assert.isUndefined((result as Record<string, unknown>)["polluted"])
        assert.strictEqual(address["country"], "NL")
      }
    })

    it("an error body cannot set its prototype", () => {
      const error = ErrorResponse.fromHttp({
        status: 400,
        headers: {},
        body: `{"__proto__":{"error":"invalid_grant"}}`
      }, 0)
      assert.strictEqual(error._tag, "InvalidRequest")
    })
  })

  describe("deep nesting", () => {
    it("a deeply nested token response is a MalformedResponse", () => {
      for (const body of [deep(2_200), `{"access_token":${deep(5_000)}}`]) {
        const decoded = Token.decodeResponseEither(JSON.parse(body))
        assert.isTrue(Either.isLeft(decoded))
      }
    })

    it("a deeply nested stored token is a MalformedStoredToken", () => {
      for (
        const text of [
          deep(2_200),
          `{"format":1,"token":${deep(5_000)}}`,
          `{"format":1,"token":{"accessToken":${deep(5_000)}}}`
        ]
      ) {
        const decoded = StoredToken.fromJson(text)
        assert.isTrue(Either.isLeft(decoded))
        assert.strictEqual(Either.getOrThrow(Either.flip(decoded))._tag, "MalformedStoredToken")
      }
    })

    it("deeply nested JWT claims are an InvalidJwt", () => {
      const jwt = `${b64(`{"alg":"none"}`)}.${b64(`{"aud":${deep(5_000)}}`)}.sig`
      assert.isTrue(Either.isLeft(Jwt.claimsEither(jwt)))
    })
  })

  describe("huge numbers", () => {
    it("a Retry-After of 300 digits is a finite, formattable wait", () => {
      const wait = RetryAfter.parse("9".repeat(300), 0)
      assert.isDefined(wait)
      assert.isTrue(Duration.isFinite(wait!))
      assert.isString(Duration.format(wait!))
      const error = ErrorResponse.fromHttp({ status: 429, headers: { "retry-after": "9".repeat(300) }, body: "" }, 0)
      assert.isString(String(error))
      assert.isString(error.message)
    })

    it("a Retry-After date in year 9999 is a finite wait", () => {
      const wait = RetryAfter.parse("Fri, 31 Dec 9999 23:59:59 GMT", 0)
      assert.isDefined(wait)
      assert.isString(Duration.format(wait!))
    })
  })

  describe("oversized descriptions", () => {
    it("an error_description is truncated in the error", () => {
      const description = "x".repeat(5_000_000)
      const error = ErrorResponse.fromHttp({
        status: 400,
        headers: {},
        body: JSON.stringify({ error: "invalid_request", error_description: description, error_uri: description })
      }, 0)
      assert.isBelow(error.message.length, 4_096)
      assert.isBelow((error as OAuthError.InvalidRequest).uri?.length ?? 0, 4_096)
    })

    it("a challenge's error_description is truncated", () => {
      const error = ErrorResponse.fromHttp({
        status: 401,
        headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${"y".repeat(100_000)}"` },
        body: ""
      }, 0)
      assert.isBelow(error.message.length, 4_096)
    })
  })
})
