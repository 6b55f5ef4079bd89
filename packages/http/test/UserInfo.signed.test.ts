/**
 * Signed UserInfo (OpenID Connect Core section 5.3.2): a client registered with
 * `userinfo_signed_response_alg` asks for `application/jwt`, and the answer must verify against the
 * issuer's keys, name the issuer and this client, and be about the ID token's subject. Every other form
 * of answer is refused with its own reason, never taken as it is.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as UserInfo from "@tokenfx/http/UserInfo"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as IdTokens from "./utils/idTokens.js"

const endpoint = "https://auth.example.com/userinfo"
const accessToken = "CANARY-userinfo-access-7c2d"
const token = Token.make({ access_token: Redacted.make(accessToken), token_type: "Bearer", expires_in: 60 }, 0)

const jwtReply = (jwt: string, contentType = "application/jwt"): FakeHttp.Reply => ({
  status: 200,
  body: jwt,
  headers: { "content-type": contentType }
})

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: IdTokens.ISSUER,
  aud: IdTokens.CLIENT,
  sub: "alice",
  email: "alice@example.com",
  ...overrides
})

// Asks the scripted server once; answers what was sent and how the answer ended.
const ask = (reply: FakeHttp.Reply, options: Omit<UserInfo.Options, "subject"> = {}) => {
  const server = FakeHttp.make([reply])
  return UserInfo.fetch(endpoint, token, { subject: "alice", ...options }).pipe(
    Effect.provideService(HttpClient.HttpClient, server.client),
    Effect.either,
    Effect.map((outcome) => ({ outcome, request: server.requests[0] }))
  )
}

const reasonOf = (reply: FakeHttp.Reply, options: Omit<UserInfo.Options, "subject"> = {}) =>
  Effect.map(ask(reply, options), ({ outcome }) => {
    assert.isTrue(outcome._tag === "Left", "refused")
    const error = outcome._tag === "Left" ? outcome.left : undefined
    assert.notInclude(`${JSON.stringify(error)} ${error?.message}`, accessToken)
    return error?._tag === "InvalidUserInfo" ? error.reason : error?._tag
  })

describe("UserInfo.fetch, signed", () => {
  it.effect("asks for application/jwt and answers the claims of a JWT signed by the issuer for this client", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* IdTokens.setup
      const jwt = yield* IdTokens.sign(key, claims())
      const signed = { jwks, issuer: IdTokens.ISSUER, clientId: IdTokens.CLIENT }
      const { outcome, request } = yield* ask(jwtReply(Redacted.value(jwt)), { signed })
      assert.strictEqual(request.headers["accept"], "application/jwt")
      assert.strictEqual(request.headers["authorization"], `Bearer ${accessToken}`)
      assert.isTrue(outcome._tag === "Right")
      if (outcome._tag === "Right") {
        assert.strictEqual(outcome.right.sub, "alice")
        assert.strictEqual(outcome.right["email"], "alice@example.com")
      }
      // A media type's parameters do not matter.
      const withCharset = yield* ask(jwtReply(Redacted.value(jwt), "Application/JWT; charset=utf-8"), { signed })
      assert.strictEqual(withCharset.outcome._tag, "Right")
    }))

  it.effect("a JWT answer with no key set to check it is refused, not read unverified", () =>
    Effect.gen(function*() {
      const { key } = yield* IdTokens.setup
      const jwt = yield* IdTokens.sign(key, claims())
      assert.strictEqual(yield* reasonOf(jwtReply(Redacted.value(jwt))), "Unverifiable")
    }))

  it.effect("a JSON answer where a signed one was asked for is refused (no downgrade)", () =>
    Effect.gen(function*() {
      const { jwks } = yield* IdTokens.setup
      const signed = { jwks, issuer: IdTokens.ISSUER, clientId: IdTokens.CLIENT }
      assert.strictEqual(yield* reasonOf(FakeHttp.json({ sub: "alice" }), { signed }), "Unsigned")
      // A JWT under another media type is not taken for one either.
      const jwt = yield* IdTokens.sign((yield* IdTokens.setup).key, claims())
      assert.strictEqual(yield* reasonOf(jwtReply(Redacted.value(jwt), "text/plain"), { signed }), "Unsigned")
    }))

  it.effect("each failed check has its reason: key, algorithm, issuer, audience, expiry, claims, encryption", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* IdTokens.setup
      const signed = { jwks, issuer: IdTokens.ISSUER, clientId: IdTokens.CLIENT }
      const reason = (jwt: string) => reasonOf(jwtReply(jwt), { signed })
      const stranger = yield* IdTokens.signer("k1")
      assert.strictEqual(yield* reason(Redacted.value(yield* IdTokens.sign(stranger, claims()))), "Signature")
      const unknown = yield* IdTokens.signer("k9")
      assert.strictEqual(yield* reason(Redacted.value(yield* IdTokens.sign(unknown, claims()))), "UnknownKey")
      const unsecured = `${jose.base64url.encode(JSON.stringify({ alg: "none" }))}.${
        jose.base64url.encode(JSON.stringify(claims()))
      }.`
      assert.strictEqual(yield* reason(unsecured), "Algorithm")
      const hmac = yield* Effect.promise(() =>
        new jose.SignJWT(claims()).setProtectedHeader({ alg: "HS256", kid: "k1" }).sign(new Uint8Array(32))
      )
      assert.strictEqual(yield* reason(hmac), "Algorithm")
      const sign = (overrides: Record<string, unknown>) =>
        Effect.map(IdTokens.sign(key, claims(overrides)), Redacted.value)
      assert.strictEqual(yield* reason(yield* sign({ iss: "https://evil.example.com" })), "Issuer")
      assert.strictEqual(yield* reason(yield* sign({ aud: "another-client" })), "Audience")
      // Core 5.3.2: a signed answer must name both.
      assert.strictEqual(yield* reason(yield* sign({ aud: undefined })), "Audience")
      assert.strictEqual(yield* reason(yield* sign({ iss: undefined })), "Issuer")
      assert.strictEqual(yield* reason(yield* sign({ sub: 7 })), "MissingClaim")
      assert.strictEqual(yield* reason(yield* sign({ exp: IdTokens.NOW - 3600 })), "Expired")
      assert.strictEqual(yield* reason("not.a.jwt"), "Malformed")
      assert.strictEqual(yield* reason("a.b.c.d.e"), "Encrypted")
    }))

  it.effect("a verified answer about another subject is still a SubjectMismatch", () =>
    Effect.gen(function*() {
      const { jwks, key } = yield* IdTokens.setup
      const jwt = yield* IdTokens.sign(key, claims({ sub: "mallory" }))
      const signed = { jwks, issuer: IdTokens.ISSUER, clientId: IdTokens.CLIENT }
      assert.strictEqual(yield* reasonOf(jwtReply(Redacted.value(jwt)), { signed }), "SubjectMismatch")
    }))

  it.effect("an unsigned client still reads JSON, and asks for it", () =>
    Effect.gen(function*() {
      const { outcome, request } = yield* ask(FakeHttp.json({ sub: "alice" }))
      assert.strictEqual(request.headers["accept"], "application/json")
      assert.strictEqual(outcome._tag, "Right")
    }))
})
