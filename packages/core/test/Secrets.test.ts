/**
 * The secret canary: tokens, responses and errors built from a known secret are rendered every way a
 * user might, and the secret must appear in none of them.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as Jwt from "@tokenfx/core/Jwt"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Pkce from "@tokenfx/core/Pkce"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as util from "node:util"
import { unsignedJwt } from "./utils/fixtures.js"

const SECRET = "canary-7d3f19b2e4a6"
// A secret a broken server sends as a JSON number.
const NUMERIC_SECRET = 736_512_349_876

const decode = (body: unknown) => Either.getOrThrow(Token.decodeResponseEither(body))
const failure = <E>(either: Either.Either<unknown, E>): E => Either.getOrThrow(Either.flip(either))

const renderings = (value: unknown): ReadonlyArray<readonly [string, string]> => {
  const out: Array<readonly [string, string]> = [
    ["String", String(value)],
    ["template", `${value}`],
    ["JSON.stringify", JSON.stringify(value) ?? ""],
    ["util.inspect", util.inspect(value, { depth: Infinity })],
    ["util.inspect showHidden", util.inspect(value, { depth: Infinity, showHidden: true })],
    ["util.format %o", util.format("%o", value)],
    ["Inspectable.format", Inspectable.format(value)],
    ["Inspectable.toStringUnknown", Inspectable.toStringUnknown(value)],
    ["Cause.pretty fail", Cause.pretty(Cause.fail(value))],
    ["Cause.pretty die", Cause.pretty(Cause.die(value))],
    ["Exit", String(Exit.fail(value))],
    ["Option", util.inspect(Option.some(value), { depth: Infinity })]
  ]
  if (value instanceof Error) {
    out.push(["message", value.message], ["toString", value.toString()], ["stack", value.stack ?? ""])
  }
  return out
}

// Everything an Effect logger would write for `value`, as message, annotation and failure cause.
const logged = (value: unknown): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const capture = Logger.make((options) => {
      lines.push(
        Logger.logfmtLogger.log(options),
        Logger.jsonLogger.log(options),
        Logger.stringLogger.log(options),
        JSON.stringify(Logger.structuredLogger.log(options))
      )
    })
    yield* Effect.gen(function*() {
      yield* Effect.log("value", value)
      yield* Effect.logInfo({ value }).pipe(Effect.annotateLogs("value", value))
      yield* Effect.fail(value).pipe(Effect.tapErrorCause((cause) => Effect.logError("failed", cause)), Effect.ignore)
      yield* Effect.die(value).pipe(Effect.tapErrorCause((cause) => Effect.logError(cause)), Effect.exit)
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
    return lines
  })

const leaks = (text: string): boolean => text.includes(SECRET) || text.includes(String(NUMERIC_SECRET))

const assertNoSecret = (label: string, value: unknown) =>
  Effect.gen(function*() {
    for (const [how, text] of renderings(value)) {
      assert.isFalse(leaks(text), `${label} leaks its secret through ${how}:\n${text}`)
    }
    const lines = yield* logged(value)
    assert.isAtLeast(lines.length, 16)
    for (const line of lines) assert.isFalse(leaks(line), `${label} leaks its secret through Effect.log:\n${line}`)
  })

const token = Token.make(
  decode({
    access_token: `${SECRET}-access`,
    token_type: "bearer",
    expires_in: 3600,
    refresh_token: `${SECRET}-refresh`,
    id_token: `${SECRET}-id`,
    refresh_token_expires_in: 86_400,
    scope: "read write"
  }),
  1_700_000_000_000
)

// A JWT access token whose signature is the canary, and whose claims the token reads.
const jwtToken = Token.make(
  decode({ access_token: unsignedJwt({ sub: "user", exp: 1_700_003_600 }, undefined, SECRET) }),
  0
)

const secretResponse = decode({
  access_token: `${SECRET}-access`,
  refresh_token: `${SECRET}-refresh`,
  id_token: `${SECRET}-id`
})

const cases: ReadonlyArray<readonly [string, unknown]> = [
  ["Token", token],
  ["a JWT Token", jwtToken],
  ["TokenResponse", secretResponse],
  ["a rotated Token", Token.rotateAt(token, decode({ access_token: `${SECRET}-next` }), 1_700_000_100_000)],
  ["TokenStore entry", { token, version: 3 } satisfies TokenStore.Entry],
  ["Either of a Token", Either.right(token)],
  [
    "a Redacted verifier",
    { verifier: Redacted.make(SECRET.repeat(3)), challenge: "x", method: "S256" } satisfies Pkce.Pkce
  ],
  [
    "MalformedResponse: the secret as access_token, a negative expires_in",
    failure(Token.decodeResponseEither({ access_token: SECRET, expires_in: -1, refresh_token: SECRET }))
  ],
  [
    "MalformedResponse: the access_token as a number",
    failure(Token.decodeResponseEither({ access_token: NUMERIC_SECRET, refresh_token: SECRET }))
  ],
  [
    "MalformedResponse: the secret inside a wrong scope",
    failure(Token.decodeResponseEither({ access_token: SECRET, scope: [SECRET] }))
  ],
  [
    "MalformedResponse: the secret as the whole body",
    failure(Token.decodeResponseEither(SECRET))
  ],
  [
    "MalformedStoredToken",
    failure(
      StoredToken.fromJson(JSON.stringify({
        format: 1,
        token: { accessToken: SECRET, refreshToken: SECRET, tokenType: "Bearer", issuedAt: SECRET, scopes: [] }
      }))
    )
  ],
  ["MalformedStoredToken: not JSON", failure(StoredToken.fromJson(`{"accessToken":"${SECRET}"`))],
  ["InvalidJwt: opaque", failure(Jwt.claimsEither(SECRET))],
  ["InvalidJwt: bad payload", failure(Jwt.claimsEither(`${SECRET}.${SECRET}.${SECRET}`))],
  [
    "InvalidJwt: claims of the wrong type",
    failure(Jwt.claimsEither(unsignedJwt({ exp: SECRET, sub: SECRET }, undefined, SECRET)))
  ],
  [
    "an OAuth error from a body that echoes the refresh token",
    ErrorResponse.fromHttp({
      status: 400,
      headers: {},
      body: JSON.stringify({ error: "invalid_grant", refresh_token: SECRET })
    }, 0)
  ],
  [
    "a ServerError from an HTML page that shows the token",
    ErrorResponse.fromHttp({ status: 500, headers: {}, body: `<html>Bearer ${SECRET}</html>` }, 0)
  ],
  [
    "a MalformedResponse from a 404 page that shows the token",
    ErrorResponse.fromHttp({ status: 404, headers: {}, body: `<p>${SECRET}</p>` }, 0)
  ],
  [
    "a TransportError whose cause holds a Redacted token",
    new OAuthError.TransportError({ reason: "Connection", cause: { authorization: Redacted.make(SECRET) } })
  ]
]

describe("secrets never show", () => {
  it("the canary is really in the tokens (and in the storage codec, the one place it belongs)", () => {
    assert.strictEqual(Redacted.value(token.accessToken), `${SECRET}-access`)
    assert.strictEqual(Redacted.value(token.refreshToken!), `${SECRET}-refresh`)
    assert.include(Redacted.value(jwtToken.accessToken), SECRET)
    assert.isDefined(jwtToken.expiresAt)
    assert.include(StoredToken.toJson(token), SECRET)
  })

  it.effect("the checks find a secret that is not redacted", () =>
    Effect.gen(function*() {
      const plain = { accessToken: SECRET, toString: () => `token ${SECRET}` }
      for (const [how, text] of renderings(plain)) assert.isTrue(leaks(text), `${how} should show a plain value`)
      const lines = yield* logged(plain)
      assert.isTrue(lines.every(leaks))
      assert.isTrue(leaks(util.inspect({ n: NUMERIC_SECRET })))
    }))

  it.effect.each(cases)("%s", ([label, value]) => assertNoSecret(label, value))

  it.effect("InvalidVerifier does not show the verifier", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pkce.challenge(Redacted.make(SECRET)))
      assert.strictEqual(error._tag, "InvalidVerifier")
      yield* assertNoSecret("InvalidVerifier", error)
    }))

  it.effect("a failed decode in an Effect, logged and rendered, does not show the token", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Token.fromBody({ access_token: SECRET, expires_in: "soon" }))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      assert.isFalse(leaks(Cause.pretty(exit.cause)))
      yield* assertNoSecret("the failed Exit", exit)
    }))
})
