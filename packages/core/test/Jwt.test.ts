import { assert, describe, it } from "@effect/vitest"
import * as Jwt from "@tokenfx/core/Jwt"
import * as Token from "@tokenfx/core/Token"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import { unsignedJwt } from "./utils/fixtures.js"

const claimsOf = (jwt: string) => Either.getOrThrow(Jwt.claimsEither(jwt))
const errorOf = (jwt: string) => Either.getOrThrow(Either.flip(Jwt.claimsEither(jwt)))

const b64 = (text: string) => Encoding.encodeBase64Url(text)

describe("Jwt", () => {
  describe("claims", () => {
    const jwt = unsignedJwt({
      iss: "https://as.example",
      sub: "user-1",
      aud: ["api", "other"],
      exp: 1_700_003_600,
      nbf: 1_700_000_000,
      iat: 1_700_000_000,
      jti: "id-1",
      scope: "read write",
      client_id: "client",
      tenant: { id: 7 }
    }, { alg: "RS256", kid: "k1" })

    it("reads the registered claims and keeps the others", () => {
      const claims = claimsOf(jwt)
      assert.strictEqual(claims.iss, "https://as.example")
      assert.strictEqual(claims.sub, "user-1")
      assert.deepStrictEqual(claims.aud, ["api", "other"])
      assert.strictEqual(claims.exp, 1_700_003_600)
      assert.strictEqual(claims.nbf, 1_700_000_000)
      assert.strictEqual(claims.iat, 1_700_000_000)
      assert.strictEqual(claims.jti, "id-1")
      assert.strictEqual(claims.scope, "read write")
      assert.strictEqual(claims.client_id, "client")
      assert.deepStrictEqual(claims["tenant"], { id: 7 })
    })

    it("takes the token as a Redacted too", () => {
      assert.deepStrictEqual(Either.getOrThrow(Jwt.claimsEither(Redacted.make(jwt))), claimsOf(jwt))
    })

    it("reads base64url (with - and _), padded or not, and an empty signature (alg none)", () => {
      const header = b64(JSON.stringify({ alg: "none" }))
      const payload = "eyJzdWIiOiJ-fn4_Pz8ifQ" // {"sub":"~~~???"}
      assert.strictEqual(claimsOf(`${header}.${payload}.`).sub, "~~~???")
      assert.strictEqual(claimsOf(`${header}.${payload}==.sig`).sub, "~~~???")
      assert.strictEqual(claimsOf(unsignedJwt({ sub: "ü" }, { alg: "none" }, "")).sub, "ü")
    })

    it.effect("the effectful version fails with InvalidJwt", () =>
      Effect.gen(function*() {
        assert.strictEqual((yield* Jwt.claims(jwt)).sub, "user-1")
        const error = yield* Effect.flip(Jwt.claims("opaque-token"))
        assert.strictEqual(error._tag, "InvalidJwt")
      }))
  })

  describe("values that are not JWTs", () => {
    const header = b64(JSON.stringify({ alg: "none" }))
    const payload = b64(JSON.stringify({ sub: "x" }))

    it.each([
      ["opaque", "expected 3 dot-separated parts, got 1"],
      [`${header}.${payload}`, "expected 3 dot-separated parts, got 2"],
      [`${header}.${payload}.sig.extra`, "expected 3 dot-separated parts, got 4"],
      [`${header}.${payload}.a.b.c`, "expected 3 dot-separated parts, got 5"],
      [`${header}.p@yl*ad.sig`, "payload is not base64url"],
      [`${header}.${payload.slice(0, 1)}.sig`, "payload is not base64url"],
      [`h!.${payload}.sig`, "header is not base64url"],
      [`${header}.${b64("not json")}.sig`, "payload is not JSON"],
      [`${header}..sig`, "payload is not JSON"],
      [`${b64("{")}.${payload}.sig`, "header is not JSON"],
      [`${b64("[1]")}.${payload}.sig`, "header is not a JSON object"],
      [`${header}.${b64("[1,2]")}.sig`, "payload is not a claims object"],
      [`${header}.${b64("42")}.sig`, "payload is not a claims object"],
      [`${header}.${b64("\"sub\"")}.sig`, "payload is not a claims object"],
      [`${header}.${b64("null")}.sig`, "payload is not a claims object"],
      [`${header}.${b64(JSON.stringify({ exp: "tomorrow" }))}.sig`, "payload is not a claims object"]
    ])("%s is an InvalidJwt: %s", (jwt, reason) => {
      const error = errorOf(jwt)
      assert.strictEqual(error._tag, "InvalidJwt")
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.message, `Not a valid JWT: ${reason}`)
      assert.strictEqual(Jwt.expiresAtMillis(jwt), undefined)
    })

    it("the error never holds the token", () => {
      const secret = "opaque-secret-value"
      const error = errorOf(secret)
      assert.notInclude(JSON.stringify(error), secret)
      assert.notInclude(String(error), secret)
    })
  })

  describe("expiry", () => {
    it("expiresAtMillis is exp in milliseconds, when there is one", () => {
      assert.strictEqual(Jwt.expiresAtMillis(unsignedJwt({ exp: 1_700_003_600 })), 1_700_003_600_000)
      assert.strictEqual(Jwt.expiresAtMillis(Redacted.make(unsignedJwt({ exp: 1 }))), 1000)
      assert.isUndefined(Jwt.expiresAtMillis(unsignedJwt({ sub: "x" })))
      assert.isUndefined(Jwt.expiresAtMillis(unsignedJwt({ exp: 1e400 })))
    })

    it("Token.make takes expiresAt from exp when expires_in is absent", () => {
      const accessToken = Redacted.make(unsignedJwt({ exp: 1_700_003_600 }))
      const token = Token.make({ access_token: accessToken }, 1_700_000_000_000)
      assert.strictEqual(DateTime.toEpochMillis(token.expiresAt!), 1_700_003_600_000)
    })

    it("expires_in wins over exp, and an expires_in of zero defers to exp", () => {
      const accessToken = Redacted.make(unsignedJwt({ exp: 1_700_003_600 }))
      const sent = Token.make({ access_token: accessToken, expires_in: 60 }, 1_700_000_000_000)
      assert.strictEqual(DateTime.toEpochMillis(sent.expiresAt!), 1_700_000_060_000)
      const zero = Token.make({ access_token: accessToken, expires_in: 0 }, 1_700_000_000_000)
      assert.strictEqual(DateTime.toEpochMillis(zero.expiresAt!), 1_700_003_600_000)
    })

    it("an exp no date can hold, or an opaque token, gives no expiry", () => {
      for (const exp of [1e300, -1e300]) {
        const token = Token.make({ access_token: Redacted.make(unsignedJwt({ exp })) }, 0)
        assert.isUndefined(token.expiresAt)
      }
      assert.isUndefined(Token.make({ access_token: Redacted.make("opaque") }, 0).expiresAt)
    })
  })
})
