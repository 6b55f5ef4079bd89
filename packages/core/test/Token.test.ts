import { assert, describe, it } from "@effect/vitest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as expiry from "../src/internal/expiry.js"
import { anyBody, responseBody, secondsOnTheWire } from "./utils/arbitraries.js"

const T0 = 1_700_000_000_000

const decode = (body: unknown): Token.TokenResponse => Either.getOrThrow(Token.decodeResponseEither(body))
const decodeError = (body: unknown): OAuthError.MalformedResponse =>
  Either.getOrThrow(Either.flip(Token.decodeResponseEither(body, { status: 200, endpoint: "https://as/token" })))
const encode = Schema.encodeSync(Token.TokenResponse)

const millis = (dateTime: DateTime.Utc | undefined) =>
  dateTime === undefined ? undefined : DateTime.toEpochMillis(dateTime)

describe("Token", () => {
  describe("TokenResponse: lenient on input", () => {
    it("reads every field of RFC 6749 section 5.1 and keeps the unknown ones", () => {
      const response = decode({
        access_token: "at",
        token_type: "bearer",
        expires_in: "3600",
        refresh_token: "rt",
        scope: "read  write\tadmin ",
        id_token: "idt",
        refresh_token_expires_in: 7200,
        refresh_in: 1800,
        custom: { nested: [1, "two"] }
      })
      assert.strictEqual(Redacted.value(response.access_token), "at")
      assert.strictEqual(response.expires_in, 3600)
      assert.strictEqual(response["refresh_in"], 1800)
      assert.deepStrictEqual(response["custom"], { nested: [1, "two"] })

      const token = Token.make(response, T0)
      assert.strictEqual(Redacted.value(token.accessToken), "at")
      assert.strictEqual(Redacted.value(token.refreshToken!), "rt")
      assert.strictEqual(Redacted.value(token.idToken!), "idt")
      assert.strictEqual(token.tokenType, "Bearer")
      assert.strictEqual(millis(token.issuedAt), T0)
      assert.strictEqual(millis(token.expiresAt), T0 + 3_600_000)
      assert.strictEqual(millis(token.refreshTokenExpiresAt), T0 + 7_200_000)
      assert.deepStrictEqual(token.scopes, ["read", "write", "admin"])
    })

    it("only the access token is required", () => {
      const token = Token.make(decode({ access_token: "at" }), T0)
      assert.strictEqual(token.tokenType, "Bearer")
      assert.deepStrictEqual(token.scopes, [])
      for (const field of ["refreshToken", "expiresAt", "idToken", "refreshTokenExpiresAt"] as const) {
        assert.isFalse(field in token, `${field} is left out, not set to undefined`)
      }
    })

    it.each([
      [3600, 3_600_000],
      ["3600", 3_600_000],
      [" 60 ", 60_000],
      [1.5, 1_500],
      ["1.5", 1_500],
      [0, undefined],
      ["0", undefined],
      [null, undefined],
      [undefined, undefined]
    ])("expires_in %j gives a lifetime of %j ms", (expiresIn, lifetime) => {
      const token = Token.make(decode({ access_token: "at", expires_in: expiresIn }), T0)
      assert.strictEqual(millis(token.expiresAt), lifetime === undefined ? undefined : T0 + lifetime)
    })

    it.each([
      ["Bearer", "Bearer"],
      ["bearer", "Bearer"],
      ["BEARER", "Bearer"],
      ["DPoP", "DPoP"],
      ["dpop", "DPoP"],
      ["N_A", "N_A"],
      ["mac", "mac"],
      ["", "Bearer"]
    ])("token_type %j is %j", (sent, canonical) => {
      assert.strictEqual(Token.make(decode({ access_token: "at", token_type: sent }), T0).tokenType, canonical)
    })

    it("an empty refresh or ID token counts as absent", () => {
      const token = Token.make(decode({ access_token: "at", refresh_token: "", id_token: "" }), T0)
      assert.isUndefined(token.refreshToken)
      assert.isUndefined(token.idToken)
    })

    it("a response built by hand with an empty access token is refused, as the schema says", () => {
      assert.throws(() => Token.make({ access_token: Redacted.make("") }, T0), /non-empty|NonEmpty|at least 1/i)
      const token = Token.make({ access_token: Redacted.make("at"), scope: "read write" }, T0)
      assert.isTrue(Schema.is(Token.Token)(token))
      assert.deepStrictEqual(token.scopes, ["read", "write"])
    })

    it("a lifetime too long for a date is no expiry, not a defect", () => {
      const token = Token.make(decode({ access_token: "at", expires_in: 1e300, refresh_token_expires_in: 1e300 }), T0)
      assert.isUndefined(token.expiresAt)
      assert.isUndefined(token.refreshTokenExpiresAt)
    })
  })

  describe("TokenResponse: strict where it matters", () => {
    it.each([
      [{}, "access_token", "is missing"],
      [{ access_token: "" }, "access_token", "expected a non-empty string"],
      [{ access_token: 42 }, "access_token", "expected a non-empty string"],
      [{ access_token: null }, "access_token", "expected a non-empty string"],
      [{ access_token: "at\r\nX: 1" }, "access_token", "expected a non-empty string of printable ASCII"],
      [{ access_token: "at\u202e" }, "access_token", "expected a non-empty string of printable ASCII"],
      [{ access_token: "at", refresh_token: "rt\u0000" }, "refresh_token", "expected a string of printable ASCII"],
      [{ access_token: "at", expires_in: -1 }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "-5" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "abc" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "0x10" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "1e3" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: "Infinity" }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: Number.NaN }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", expires_in: true }, "expires_in", "expected a non-negative number of seconds"],
      [{ access_token: "at", refresh_token_expires_in: -1 }, "refresh_token_expires_in", "expected a non-negative"],
      [{ access_token: "at", token_type: 1 }, "token_type", "expected a string"],
      [{ access_token: "at", scope: ["read"] }, "scope", "expected a space-delimited string"],
      [{ access_token: "at", refresh_token: 5 }, "refresh_token", "expected a string"],
      [{ access_token: "at", id_token: {} }, "id_token", "expected a string"]
    ])("%j is a MalformedResponse naming %s", (body, field, reason) => {
      const error = decodeError(body)
      assert.strictEqual(error._tag, "MalformedResponse")
      assert.strictEqual(error.field, field)
      assert.include(error.reason, reason)
      assert.strictEqual(error.status, 200)
      assert.strictEqual(error.endpoint, "https://as/token")
      assert.include(error.message, field)
    })

    it.each([[null], [[]], [["at"]], ["at"], [42], [true], [undefined]])(
      "the non-object body %j is a MalformedResponse",
      (body) => {
        const error = decodeError(body)
        assert.isUndefined(error.field)
        assert.strictEqual(error.reason, "expected a JSON object")
      }
    )

    it.effect("fromBody fails in the error channel", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Token.fromBody({ access_token: "at", expires_in: -3 }))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.strictEqual(error.field, "expires_in")
      }))
  })

  describe("time comes from Clock", () => {
    it.effect("fromResponse and fromBody read the issue time from Clock", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        const token = yield* Token.fromResponse(decode({ access_token: "at", expires_in: 60 }))
        assert.strictEqual(millis(token.issuedAt), T0)
        assert.strictEqual(millis(token.expiresAt), T0 + 60_000)
        yield* TestClock.adjust("1 hour")
        const later = yield* Token.fromBody({ access_token: "at", expires_in: 60 })
        assert.strictEqual(millis(later.issuedAt), T0 + 3_600_000)
      }))

    it("make takes epoch milliseconds or a DateTime", () => {
      const response = decode({ access_token: "at", expires_in: 10 })
      assert.isTrue(Token.Equivalence(Token.make(response, T0), Token.make(response, DateTime.unsafeMake(T0))))
    })
  })

  describe("rotate", () => {
    const previous = Token.make(
      decode({
        access_token: "at-1",
        refresh_token: "rt-1",
        refresh_token_expires_in: 86_400,
        scope: "read write",
        expires_in: 3600
      }),
      T0
    )

    it.effect("keeps the previous refresh token and scopes when the response omits them", () =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0 + 3_300_000)
        const next = yield* Token.rotate(previous, decode({ access_token: "at-2", expires_in: 3600 }))
        assert.strictEqual(Redacted.value(next.accessToken), "at-2")
        assert.strictEqual(Redacted.value(next.refreshToken!), "rt-1")
        assert.strictEqual(millis(next.refreshTokenExpiresAt), T0 + 86_400_000)
        assert.deepStrictEqual(next.scopes, ["read", "write"])
        assert.strictEqual(millis(next.issuedAt), T0 + 3_300_000)
        assert.strictEqual(millis(next.expiresAt), T0 + 3_300_000 + 3_600_000)
      }))

    it("takes the new refresh token, its lifetime and new scopes when sent", () => {
      const next = Token.rotateAt(previous, decode({ access_token: "at-2", refresh_token: "rt-2", scope: "read" }), T0)
      assert.strictEqual(Redacted.value(next.refreshToken!), "rt-2")
      assert.isUndefined(next.refreshTokenExpiresAt, "the old refresh token's lifetime does not carry over")
      assert.deepStrictEqual(next.scopes, ["read"])
      assert.isFalse(Token.sameRefreshToken(previous, next))
    })

    it("keeps the previous ID token unless a new one is sent", () => {
      const withId = Token.make(decode({ access_token: "at-1", refresh_token: "rt-1", id_token: "id-1" }), T0)
      const kept = Token.rotateAt(withId, decode({ access_token: "at-2", refresh_token: "rt-2", scope: "a" }), T0)
      assert.strictEqual(Redacted.value(kept.idToken!), "id-1")
      const replaced = Token.rotateAt(withId, decode({ access_token: "at-2", id_token: "id-2" }), T0)
      assert.strictEqual(Redacted.value(replaced.idToken!), "id-2")
      assert.isUndefined(Token.rotateAt(previous, decode({ access_token: "at-2" }), T0).idToken)
    })

    it("treats an empty refresh token as omitted", () => {
      const next = Token.rotateAt(previous, decode({ access_token: "at-2", refresh_token: "" }), T0)
      assert.strictEqual(Redacted.value(next.refreshToken!), "rt-1")
      assert.isTrue(Token.sameRefreshToken(previous, next))
    })

    it("sameAccessToken and sameRefreshToken compare the secrets", () => {
      const same = Token.make(decode({ access_token: "at-1", refresh_token: "rt-1" }), T0 + 5)
      const bare = Token.make(decode({ access_token: "at-1" }), T0)
      assert.isTrue(Token.sameAccessToken(previous, same))
      assert.isTrue(Token.sameRefreshToken(previous, same))
      assert.isFalse(Token.sameRefreshToken(previous, bare))
      assert.isTrue(Token.sameRefreshToken(bare, bare))
      assert.isFalse(Token.sameAccessToken(previous, Token.make(decode({ access_token: "at-2" }), T0)))
    })
  })

  describe("Equivalence", () => {
    const base = {
      accessToken: Redacted.make("at"),
      tokenType: "Bearer",
      issuedAt: DateTime.unsafeMake(T0),
      scopes: []
    }

    it("compares secrets by value and treats an absent field like an undefined one", () => {
      const a = new Token.Token(base)
      assert.isTrue(Token.Equivalence(a, new Token.Token({ ...base, accessToken: Redacted.make("at") })))
      assert.isTrue(Token.Equivalence(a, new Token.Token({ ...base, refreshToken: undefined })))
      assert.isFalse(Token.Equivalence(a, new Token.Token({ ...base, accessToken: Redacted.make("other") })))
      assert.isFalse(Token.Equivalence(a, new Token.Token({ ...base, refreshToken: Redacted.make("rt") })))
      assert.isFalse(Token.Equivalence(a, new Token.Token({ ...base, scopes: ["x"] })))
      assert.isFalse(Token.Equivalence(a, new Token.Token({ ...base, expiresAt: DateTime.unsafeMake(T0) })))
    })
  })

  describe("laws", () => {
    it.prop("decoding then encoding a valid response gives the body back", [responseBody], ([body]) => {
      const expected = { ...body }
      if (typeof body.expires_in === "string") expected.expires_in = Number(body.expires_in)
      if (typeof body.refresh_token_expires_in === "string") {
        expected.refresh_token_expires_in = Number(body.refresh_token_expires_in)
      }
      assert.deepStrictEqual(encode(decode(body)), expected)
    })

    it.prop(
      "any expires_in >= 0 gives issuedAt <= refreshAt <= expiresAt",
      [secondsOnTheWire, FastCheck.integer({ min: 0, max: 4_000_000_000_000 })],
      ([expiresIn, now]) => {
        const token = Token.make(decode({ access_token: "opaque", expires_in: expiresIn }), now)
        const seconds = Number(expiresIn)
        const expiresAt = millis(token.expiresAt)
        const refreshAt = expiry.refreshAtMillis(token)
        assert.strictEqual(millis(token.issuedAt), now)
        if (seconds === 0 || now + seconds * 1000 > 8.64e15) {
          assert.isUndefined(expiresAt)
          assert.isUndefined(refreshAt)
          return
        }
        assert.strictEqual(expiresAt, Math.round(now + seconds * 1000))
        assert.isAtLeast(refreshAt!, now)
        assert.isAtMost(refreshAt!, expiresAt!)
      }
    )

    const previousToken = FastCheck.record({
      refresh_token: FastCheck.string({ minLength: 1 }),
      scope: FastCheck.constantFrom("", "read", "read write")
    })

    it.prop("rotate never loses a refresh token", [previousToken, responseBody], ([previousBody, body]) => {
      const previous = Token.make(decode({ access_token: "previous", ...previousBody }), T0)
      const response = decode(body)
      const next = Token.rotateAt(previous, response, T0 + 1000)
      assert.isDefined(next.refreshToken)
      const sent = body.refresh_token ?? ""
      assert.strictEqual(Redacted.value(next.refreshToken!), sent.length > 0 ? sent : previousBody.refresh_token)
      const scopes = Token.parseScope(body.scope)
      assert.deepStrictEqual(next.scopes, scopes.length > 0 ? scopes : Token.parseScope(previousBody.scope))
      assert.isTrue(Token.sameAccessToken(next, Token.make(response, T0)))
    })

    it.prop("any JSON body gives a Token or a MalformedResponse, never a defect", [anyBody], ([body]) => {
      const exit = Effect.runSyncExit(Token.fromBody(body))
      if (Exit.isSuccess(exit)) {
        assert.isTrue(Token.isToken(exit.value))
      } else {
        assert.isTrue(Cause.isFailType(exit.cause), Cause.pretty(exit.cause))
        const error = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(error) && error.value._tag === "MalformedResponse")
      }
    }, { fastCheck: { numRuns: 300 } })
  })
})
