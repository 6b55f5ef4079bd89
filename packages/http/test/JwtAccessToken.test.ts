import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Json from "@tokenfx/core/Json"
import * as Jwks from "@tokenfx/http/Jwks"
import * as JwtAccessToken from "@tokenfx/http/JwtAccessToken"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as FakeHttp from "./utils/FakeHttp.js"

const ISSUER = "https://auth.example.com"
const API = "https://api.example.com"
const NOW = 1_800_000_000

const setup = Effect.gen(function*() {
  yield* TestClock.setTime(NOW * 1000)
  const { privateKey, publicKey } = yield* Effect.promise(() => jose.generateKeyPair("RS256", { extractable: true }))
  const publicJwk = { ...(yield* Effect.promise(() => jose.exportJWK(publicKey))), kid: "k1", alg: "RS256" }
  const server = FakeHttp.make(() => FakeHttp.json({ keys: [publicJwk] }))
  const jwks = yield* Jwks.make({ uri: `${ISSUER}/jwks` }).pipe(
    Effect.provideService(HttpClient.HttpClient, server.client)
  )
  const sign = (claims: Record<string, unknown> = {}, typ = "at+jwt") =>
    Effect.promise(() =>
      new jose.SignJWT({
        iss: ISSUER,
        sub: "alice",
        aud: API,
        client_id: "app",
        iat: NOW,
        exp: NOW + 300,
        jti: "j-1",
        scope: "api:read api:write",
        ...claims
      }).setProtectedHeader({ alg: "RS256", kid: "k1", typ }).sign(privateKey)
    ).pipe(Effect.map(Redacted.make))
  // The claims text as a hostile issuer writes it, past what `JSON.stringify` would make.
  const signText = (rest: string) =>
    Effect.promise(() =>
      new jose.CompactSign(new TextEncoder().encode(
        `{"iss":"${ISSUER}","sub":"alice","aud":"${API}","client_id":"app","iat":${NOW},"exp":${NOW + 300},` +
          `"jti":"j-1",${rest}}`
      )).setProtectedHeader({ alg: "RS256", kid: "k1", typ: "at+jwt" }).sign(privateKey)
    ).pipe(Effect.map(Redacted.make))
  return { jwks, sign, signText }
})

const expected = { issuer: ISSUER, audience: API }

describe("JwtAccessToken.verify", () => {
  it.effect("an RFC 9068 token: its claims; the scopes the request needs", () =>
    Effect.gen(function*() {
      const { jwks, sign } = yield* setup
      const claims = yield* JwtAccessToken.verify(jwks, yield* sign(), { ...expected, scopes: ["api:read"] })
      assert.strictEqual(claims.sub, "alice")
      assert.strictEqual(claims.client_id, "app")
      const missing = yield* Effect.flip(JwtAccessToken.verify(jwks, yield* sign(), { ...expected, scopes: ["admin"] }))
      assert.strictEqual(missing._tag, "InsufficientScope")
    }))

  it.effect("InvalidToken for another type (an ID token), audience, issuer, an expired token or a missing claim", () =>
    Effect.gen(function*() {
      const { jwks, sign } = yield* setup
      for (
        const token of [
          sign({}, "JWT"),
          sign({ aud: "https://other.example.com" }),
          sign({ iss: "https://evil.example.com" }),
          sign({ iat: NOW - 900, exp: NOW - 600 }),
          sign({ client_id: undefined }),
          Effect.succeed(Redacted.make(new jose.UnsecuredJWT({ iss: ISSUER }).encode()))
        ]
      ) {
        const error = yield* Effect.flip(JwtAccessToken.verify(jwks, yield* token, expected))
        assert.strictEqual(error._tag, "InvalidToken")
      }
    }))

  it.effect("__proto__, constructor and prototype claims are dropped; the others are kept", () =>
    Effect.gen(function*() {
      const { jwks, signText } = yield* setup
      const token = yield* signText(
        `"__proto__":{"scope":"admin","polluted":"yes"},"constructor":{"name":"x"},"prototype":1,"tenant":"t-1"`
      )
      const claims: Record<string, unknown> = yield* JwtAccessToken.verify(jwks, token, expected)
      assert.strictEqual(Object.getPrototypeOf(claims), Object.prototype)
      assert.isUndefined(claims["polluted"])
      assert.strictEqual(claims["constructor"], Object)
      for (const name of Json.forbiddenKeys) assert.isFalse(Object.hasOwn(claims, name), name)
      assert.strictEqual(claims["tenant"], "t-1")
      // A scope only the forged prototype carried grants nothing.
      const error = yield* Effect.flip(JwtAccessToken.verify(jwks, token, { ...expected, scopes: ["admin"] }))
      assert.strictEqual(error._tag, "InsufficientScope")
    }))

  it.effect("claims nested deeper than Json.maxDepth are InvalidToken, not a stack overflow; at the limit they verify", () =>
    Effect.gen(function*() {
      const { jwks, signText } = yield* setup
      // The claims object and the innermost array are two of the levels.
      const nested = (levels: number) => `"x":${"[".repeat(levels - 2)}[]${"]".repeat(levels - 2)}`
      const atLimit = yield* JwtAccessToken.verify(jwks, yield* signText(nested(Json.maxDepth)), expected)
      assert.strictEqual(atLimit.sub, "alice")
      for (const levels of [Json.maxDepth + 1, 20_000]) {
        const outcome = yield* Effect.either(JwtAccessToken.verify(jwks, yield* signText(nested(levels)), expected))
        assert.strictEqual(Either.isLeft(outcome) && outcome.left._tag, "InvalidToken", `${levels} levels`)
      }
    }))
})
