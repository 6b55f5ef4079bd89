import { assert, describe, it } from "@effect/vitest"
import * as Json from "@tokenfx/core/Json"
import * as Token from "@tokenfx/core/Token"
import * as IdToken from "@tokenfx/http/IdToken"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import {
  claims,
  CLIENT,
  expected,
  ISSUER,
  JWKS_URI,
  NOW,
  reasonOf,
  setup,
  sign,
  type Signer,
  signer,
  signText
} from "./utils/idTokens.js"

describe("IdToken.verify", () => {
  it.effect("a token signed by the issuer's key, for this client, with the nonce sent: its claims", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const verified = yield* IdToken.verify(jwks, yield* sign(key, claims({ email: "a@example.com" })), expected)
      assert.strictEqual(verified.sub, "alice")
      assert.strictEqual(verified["email"], "a@example.com")
    }))

  it.effect("each failed check has its own reason", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const impostor = yield* signer("k1")
      const cases: ReadonlyArray<readonly [string, Effect.Effect<Redacted.Redacted<string>>, IdToken.Expected?]> = [
        ["Signature", sign(impostor, claims())],
        // The attacker's own key embedded in the header (or a jku) is never trusted.
        ["Signature", sign(impostor, claims(), { jwk: impostor.publicJwk, jku: "https://evil.example.com/jwks" })],
        ["Audience", sign(key, claims({ aud: "another-client" }))],
        ["Issuer", sign(key, claims({ iss: "https://evil.example.com" }))],
        ["Nonce", sign(key, claims({ nonce: "n-2" }))],
        ["Nonce", sign(key, claims()), { ...expected, nonce: null }],
        ["Expired", sign(key, claims({ iat: NOW - 600, exp: NOW - 60 }))],
        ["IssuedAt", sign(key, claims({ iat: NOW + 600, exp: NOW + 900 }))],
        ["MissingClaim", sign(key, claims({ sub: undefined }))],
        ["AuthorizedParty", sign(key, claims({ azp: "another-client" }))],
        ["AuthorizedParty", sign(key, claims({ aud: [CLIENT, "another-client"] }))],
        ["Subject", sign(key, claims()), { ...expected, subject: "bob" }],
        ["AuthTime", sign(key, claims()), { ...expected, maxAge: 600 }],
        ["AuthTime", sign(key, claims({ auth_time: NOW - 900 })), { ...expected, maxAge: 600 }],
        ["Malformed", Effect.succeed(Redacted.make("not.a-jwt"))]
      ]
      for (const [reason, token, options] of cases) {
        assert.strictEqual(yield* reasonOf(IdToken.verify(jwks, yield* token, options ?? expected)), reason)
      }
    }))

  it.effect("alg none and HMAC signed with the published public key are refused before any key is used", () =>
    Effect.gen(function*() {
      const { jwks, key, keys } = yield* setup
      const none = new jose.UnsecuredJWT(claims()).encode()
      assert.strictEqual(yield* reasonOf(IdToken.verify(jwks, Redacted.make(none), expected)), "Algorithm")
      // The classic confusion attack: the public key's bytes as an HMAC secret.
      const hmac = yield* Effect.promise(() =>
        new jose.SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: key.kid }).sign(
          new TextEncoder().encode(JSON.stringify(key.publicJwk))
        )
      )
      assert.strictEqual(yield* reasonOf(IdToken.verify(jwks, Redacted.make(hmac), expected)), "Algorithm")
      // Even when the caller lists HS256, a public key set never verifies it.
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, Redacted.make(hmac), { ...expected, algorithms: ["HS256"] })),
        "Algorithm"
      )
      assert.strictEqual(keys.fetches(), 0)
    }))

  it.effect("the allowed algorithms are enforced", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const token = yield* sign(key, claims())
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, token, { ...expected, algorithms: ["RS256"] })),
        "Algorithm"
      )
    }))

  it.effect("at_hash and c_hash are checked against the access token and code", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const accessToken = Redacted.make("access-token-1")
      const code = Redacted.make("code-1")
      const atHash = yield* IdToken.halfHash(accessToken, "ES256")
      const cHash = yield* IdToken.halfHash(code, "ES256")
      // The reference value: base64url of the left half of SHA-256.
      const digest = yield* Effect.promise(() =>
        globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode("access-token-1"))
      )
      assert.strictEqual(atHash, Buffer.from(digest.slice(0, 16)).toString("base64url"))
      const good = yield* sign(key, claims({ at_hash: atHash, c_hash: cHash }))
      yield* IdToken.verify(jwks, good, { ...expected, accessToken, code })
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, good, { ...expected, accessToken: Redacted.make("other"), code })),
        "AccessTokenHash"
      )
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, good, { ...expected, accessToken, code: Redacted.make("other") })),
        "CodeHash"
      )
    }))

  it.effect("clock skew: a token expired 20 seconds ago passes with the default 30, not with 10", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const token = yield* sign(key, claims({ iat: NOW - 600, exp: NOW - 20 }))
      yield* IdToken.verify(jwks, token, expected)
      assert.strictEqual(
        yield* reasonOf(IdToken.verify(jwks, token, { ...expected, clockSkew: "10 seconds" })),
        "Expired"
      )
    }))
})

describe("TokenEndpoint.exchangeCode verifies the ID token", () => {
  // An issuer whose metadata, key set and token endpoint are all scripted; the ID token is built
  // per request from what the authorization request sent.
  const issuerServer = (
    key: Signer,
    idToken: (nonce: string | undefined) => Effect.Effect<Redacted.Redacted<string>>
  ) =>
    Effect.gen(function*() {
      const pending: Array<string | undefined> = []
      const tokens: Array<string> = []
      const server = FakeHttp.make((request) => {
        if (request.url === `${ISSUER}/.well-known/openid-configuration`) {
          return FakeHttp.json({ issuer: ISSUER, jwks_uri: JWKS_URI })
        }
        if (request.url === JWKS_URI) return FakeHttp.json({ keys: [key.publicJwk] })
        return FakeHttp.token({ id_token: tokens.shift() })
      })
      const endpoint = yield* Endpoint.make(server)
      const login = Effect.gen(function*() {
        const request = yield* endpoint.authorizationUrl({ redirectUri: "https://app/cb", nonce: true })
        pending.push(request.nonce)
        tokens.push(Redacted.value(yield* idToken(request.nonce)))
        return yield* endpoint.exchangeCode(request, { code: "code-1", state: request.state })
      })
      return { server, login }
    })

  it.effect("on by default: the claims land on the Token; the key set is found through discovery", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const { login, server } = yield* issuerServer(key, (nonce) => sign(key, claims({ nonce })))
      const token = yield* login
      assert.strictEqual(token.idTokenClaims?.sub, "alice")
      assert.isString(token.idTokenClaims?.["nonce"])
      yield* login
      // Metadata and keys once, then tokens.
      assert.deepStrictEqual(
        server.requests.map((r) => new URL(r.url).pathname),
        ["/oauth/token", "/.well-known/openid-configuration", "/jwks", "/oauth/token"]
      )
    }))

  it.effect("a forged ID token fails the exchange with InvalidIdToken", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const forger = yield* signer("k1")
      const forged = yield* issuerServer(key, (nonce) => sign(forger, claims({ nonce })))
      const error = yield* Effect.flip(forged.login)
      assert.strictEqual(error._tag === "InvalidIdToken" && error.reason, "Signature")
      const replayed = yield* issuerServer(key, () => sign(key, claims({ nonce: "an-old-nonce" })))
      const replay = yield* Effect.flip(replayed.login)
      assert.strictEqual(replay._tag === "InvalidIdToken" && replay.reason, "Nonce")
    }))

  it.effect("idToken: false keeps the ID token unverified and without claims", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const server = FakeHttp.make([FakeHttp.token({ id_token: "not-even-a-jwt" })])
      const endpoint = yield* Endpoint.make(server, { idToken: false })
      const request = yield* endpoint.authorizationUrl({ redirectUri: "https://app/cb" })
      const token = yield* endpoint.exchangeCode(request, { code: "code-1", state: request.state })
      assert.isDefined(token.idToken)
      assert.isUndefined(token.idTokenClaims)
      const strict = yield* Endpoint.make(FakeHttp.make([FakeHttp.token({ id_token: "not-even-a-jwt" })]), {
        jwksUri: JWKS_URI
      })
      const refused = yield* Effect.flip(strict.exchangeCode(request, { code: "code-1", state: request.state }))
      assert.strictEqual(refused._tag === "InvalidIdToken" && refused.reason, "Malformed")
    }))
})

describe("a client without an issuer", () => {
  it.effect("cannot verify: a code exchange is refused; a refresh succeeds without the unverified ID token", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const idToken = Redacted.value(yield* sign(key, claims({ nonce: undefined })))
      const server = FakeHttp.make(() => FakeHttp.token({ id_token: idToken, refresh_token: "rt-2" }))
      const endpoint = yield* Endpoint.make(server, { issuer: undefined })
      const error = yield* Effect.flip(endpoint.authorizationCode({
        code: Redacted.make("code-1"),
        verifier: Redacted.make("v".repeat(43)),
        redirectUri: "https://app/cb"
      }))
      assert.strictEqual(error._tag === "InvalidIdToken" && error.reason, "Unverifiable")
      const previous = Token.make({ access_token: Redacted.make("at-1"), refresh_token: Redacted.make("rt-1") }, 0)
      const refreshed = yield* endpoint.refresh(previous)
      assert.strictEqual(Redacted.value(refreshed.refreshToken!), "rt-2")
      assert.isUndefined(refreshed.idToken)
      assert.isUndefined(refreshed.idTokenClaims)
    }))
})

describe("TokenEndpoint.refresh and a refreshed ID token", () => {
  it.effect("verified and bound to the same sub; a forged or foreign one is refused but the rotated token is kept", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const forger = yield* signer("k1")
      const replies: Array<FakeHttp.Reply> = []
      const server = FakeHttp.make((request) =>
        request.url === JWKS_URI ? FakeHttp.json({ keys: [key.publicJwk] }) : replies.shift()!
      )
      const endpoint = yield* Endpoint.make(server, { jwksUri: JWKS_URI })
      const login = yield* sign(key, claims({ nonce: undefined }))
      replies.push(FakeHttp.token({ id_token: Redacted.value(login), refresh_token: "rt-1" }))
      const first = yield* endpoint.authorizationCode({
        code: Redacted.make("code-1"),
        verifier: Redacted.make("v".repeat(43)),
        redirectUri: "https://app/cb"
      })
      assert.strictEqual(first.idTokenClaims?.sub, "alice")

      const fresh = yield* sign(key, claims({ nonce: undefined, iat: NOW + 1, email: "new@example.com" }))
      replies.push(FakeHttp.token({ id_token: Redacted.value(fresh), refresh_token: "rt-2" }))
      const second = yield* endpoint.refresh(first)
      assert.strictEqual(second.idTokenClaims?.["email"], "new@example.com")

      for (
        const refused of [
          sign(forger, claims({ nonce: undefined })),
          sign(key, claims({ nonce: undefined, sub: "mallory" }))
        ]
      ) {
        replies.push(FakeHttp.token({ id_token: Redacted.value(yield* refused), refresh_token: "rt-3" }))
        const third = yield* endpoint.refresh(second)
        // The rotated refresh token is never lost; the identity verified before stands.
        assert.strictEqual(Redacted.value(third.refreshToken!), "rt-3")
        assert.strictEqual(Redacted.value(third.idToken!), Redacted.value(fresh))
        assert.strictEqual(third.idTokenClaims?.["email"], "new@example.com")
      }
    }))
})

describe("TokenEndpoint.refresh and a verification that dies", () => {
  // The server has rotated the refresh token by the time the ID token is verified: a defect there (a
  // key set fetcher that throws, a bug) must not lose it, and must not go unnoticed.
  it.effect("a key set fetch that throws: the rotated refresh token is kept, the identity before stands, an error is logged", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const fresh = Redacted.value(yield* sign(key, claims({ nonce: undefined })))
      const server = FakeHttp.make((request) => {
        if (request.url === JWKS_URI) throw new Error("key set fetcher bug")
        return FakeHttp.token({ id_token: fresh, refresh_token: "rt-2" })
      })
      const endpoint = yield* Endpoint.make(server, { jwksUri: JWKS_URI })
      const previous = Token.make({ access_token: Redacted.make("at-0"), refresh_token: Redacted.make("rt-1") }, 0)
      const logged: Array<{ readonly level: string; readonly text: string }> = []
      const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
        logged.push({
          level: logLevel.label,
          text: `${JSON.stringify(message)} ${JSON.stringify([...HashMap.toEntries(annotations)])} ${
            Cause.pretty(cause)
          }`
        })
      })
      const outcome = yield* Effect.exit(
        endpoint.refresh(previous).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      )
      assert.isTrue(Exit.isSuccess(outcome), "the rotated refresh token was lost with the defect")
      if (Exit.isSuccess(outcome)) {
        assert.strictEqual(Redacted.value(outcome.value.refreshToken!), "rt-2")
        assert.isUndefined(outcome.value.idToken)
      }
      const errors = logged.filter((entry) => entry.level === "ERROR")
      assert.strictEqual(errors.length, 1, "the defect went unnoticed")
      for (const entry of logged) {
        for (const secret of ["rt-2", "rt-1", "at-1", fresh]) assert.notInclude(entry.text, secret)
      }
    }))

  it.effect("interrupted while the key set is fetched: the refresh is interrupted, not answered", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const key = yield* signer("k1")
      const fresh = Redacted.value(yield* sign(key, claims({ nonce: undefined })))
      const server = FakeHttp.make((request) =>
        request.url === JWKS_URI ? FakeHttp.never : FakeHttp.token({ id_token: fresh, refresh_token: "rt-2" })
      )
      const endpoint = yield* Endpoint.make(server, { jwksUri: JWKS_URI })
      const previous = Token.make({ access_token: Redacted.make("at-0"), refresh_token: Redacted.make("rt-1") }, 0)
      const fiber = yield* Effect.fork(endpoint.refresh(previous))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(server.requests.length, 2)
      const exit = yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.isInterrupted(exit))
    }))
})

describe("IdToken.verify and claims a hostile (or compromised) issuer signs", () => {
  const base = `"iss":"${ISSUER}","sub":"alice","aud":"${CLIENT}","iat":${NOW},"exp":${NOW + 300},"nonce":"n-1"`
  // The claims object is one level, the empty array or object innermost another: `levels` deep in all.
  const nested = (levels: number, [open, empty, close]: Nesting) =>
    `{${base},"x":${open.repeat(levels - 2)}${empty}${close.repeat(levels - 2)}}`
  type Nesting = readonly [open: string, empty: string, close: string]
  const arrays: Nesting = ["[", "[]", "]"]
  const objects: Nesting = [`{"a":`, "{}", "}"]

  it.effect("claims nested deeper than Json.maxDepth are Malformed, not a stack overflow; at the limit they verify", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      for (const nesting of [arrays, objects]) {
        const atLimit = yield* IdToken.verify(jwks, yield* signText(key, nested(Json.maxDepth, nesting)), expected)
        assert.strictEqual(atLimit.sub, "alice")
        for (const levels of [Json.maxDepth + 1, 20_000]) {
          const outcome = yield* Effect.either(
            IdToken.verify(jwks, yield* signText(key, nested(levels, nesting)), expected)
          )
          const reason = Either.isLeft(outcome) && outcome.left._tag === "InvalidIdToken" && outcome.left.reason
          assert.strictEqual(reason, "Malformed", `${levels} levels`)
        }
      }
    }))

  it.effect("__proto__, constructor and prototype claims are dropped at any depth; the others are kept", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const token = yield* signText(
        key,
        `{${base},"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},` +
          `"prototype":1,"address":{"__proto__":{"polluted":"yes"},"country":"NL"},"groups":[{"__proto__":[]}]}`
      )
      const verified: Record<string, unknown> = yield* IdToken.verify(jwks, token, expected)
      assert.strictEqual(Object.getPrototypeOf(verified), Object.prototype)
      assert.isUndefined(verified["polluted"])
      assert.strictEqual(verified["constructor"], Object)
      for (const name of Json.forbiddenKeys) assert.isFalse(Object.hasOwn(verified, name), name)
      const address = verified["address"] as Record<string, unknown>
      assert.strictEqual(Object.getPrototypeOf(address), Object.prototype)
      assert.strictEqual(address["country"], "NL")
      assert.deepStrictEqual(verified["groups"], [{}])
    }))

  it.effect("a refresh answer with such an ID token keeps the rotated refresh token and the identity verified before", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* setup
      const replies: Array<FakeHttp.Reply> = []
      const server = FakeHttp.make((request) =>
        request.url === JWKS_URI ? FakeHttp.json({ keys: [key.publicJwk] }) : replies.shift()!
      )
      const endpoint = yield* Endpoint.make(server, { jwksUri: JWKS_URI })
      const login = yield* sign(key, claims({ nonce: undefined, email: "a@example.com" }))
      const previous = new Token.Token({
        ...Token.make({ access_token: Redacted.make("at-1"), refresh_token: Redacted.make("rt-1") }, 0),
        idToken: login,
        idTokenClaims: yield* IdToken.verify(jwks, login, { ...expected, nonce: undefined })
      })
      const deep = yield* signText(key, nested(20_000, arrays).replace(`,"nonce":"n-1"`, ""))
      replies.push(FakeHttp.token({ id_token: Redacted.value(deep), refresh_token: "rt-2" }))
      const refreshed = yield* endpoint.refresh(previous)
      assert.strictEqual(Redacted.value(refreshed.refreshToken!), "rt-2")
      assert.strictEqual(Redacted.value(refreshed.idToken!), Redacted.value(login))
      assert.strictEqual(refreshed.idTokenClaims?.["email"], "a@example.com")
    }))
})
