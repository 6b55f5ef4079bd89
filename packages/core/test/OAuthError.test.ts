import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Schema from "effect/Schema"

const NOW = Date.UTC(2025, 0, 1, 0, 0, 0)
const endpoint = "https://as.example/token"

const fromJson = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  ErrorResponse.fromHttp({ status, headers, body: JSON.stringify(body), endpoint }, NOW)

describe("OAuthError", () => {
  describe("one class per error code", () => {
    it.each(
      [
        ["invalid_request", 400, "InvalidRequest", OAuthError.InvalidRequest, "configuration"],
        ["invalid_client", 401, "InvalidClient", OAuthError.InvalidClient, "configuration"],
        ["invalid_grant", 400, "InvalidGrant", OAuthError.InvalidGrant, "reauthenticate"],
        ["unauthorized_client", 400, "UnauthorizedClient", OAuthError.UnauthorizedClient, "configuration"],
        ["unsupported_grant_type", 400, "UnsupportedGrantType", OAuthError.UnsupportedGrantType, "configuration"],
        ["invalid_scope", 400, "InvalidScope", OAuthError.InvalidScope, "configuration"],
        ["invalid_token", 401, "InvalidToken", OAuthError.InvalidToken, "reauthenticate"],
        ["insufficient_scope", 403, "InsufficientScope", OAuthError.InsufficientScope, "reauthenticate"],
        ["insufficient_claims", 401, "InsufficientClaims", OAuthError.InsufficientClaims, "reauthenticate"],
        ["access_denied", 400, "AccessDenied", OAuthError.AccessDenied, "reauthenticate"],
        ["authorization_pending", 400, "AuthorizationPending", OAuthError.AuthorizationPending, "poll"],
        ["slow_down", 400, "SlowDown", OAuthError.SlowDown, "poll"],
        ["expired_token", 400, "ExpiredToken", OAuthError.ExpiredToken, "reauthenticate"],
        ["rate_limited", 429, "RateLimited", OAuthError.RateLimited, "retry"],
        ["server_error", 500, "ServerError", OAuthError.ServerError, "retry"],
        ["temporarily_unavailable", 503, "TemporarilyUnavailable", OAuthError.TemporarilyUnavailable, "retry"],
        ["unsupported_token_type", 400, "UnsupportedTokenType", OAuthError.UnsupportedTokenType, "configuration"],
        ["invalid_target", 400, "InvalidTarget", OAuthError.InvalidTarget, "configuration"],
        ["interaction_required", 400, "InteractionRequired", OAuthError.InteractionRequired, "reauthenticate"],
        ["consent_required", 400, "ConsentRequired", OAuthError.ConsentRequired, "reauthenticate"],
        ["login_required", 400, "LoginRequired", OAuthError.LoginRequired, "reauthenticate"],
        ["mfa_required", 403, "MfaRequired", OAuthError.MfaRequired, "reauthenticate"]
      ] satisfies ReadonlyArray<
        readonly [string, number, string, new(details: OAuthError.Details) => unknown, OAuthError.Disposition]
      >
    )("%s (HTTP %d) is %s", (code, status, tag, Class, disposition) => {
      const error = fromJson(status, {
        error: code,
        error_description: "what went wrong",
        error_uri: "https://as.example/errors"
      })
      assert.isTrue(error instanceof Class)
      assert.strictEqual(error._tag, tag)
      assert.strictEqual(error.code, code)
      assert.strictEqual(error.disposition, disposition)
      assert.strictEqual(OAuthError.isRetryable(error), disposition === "retry")
      assert.isTrue(OAuthError.isOAuthError(error))
      assert.instanceOf(error, Error)
      if (error._tag === "MalformedResponse") throw new Error("unreachable")
      assert.strictEqual(error.description, "what went wrong")
      assert.strictEqual(error.uri, "https://as.example/errors")
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.endpoint, endpoint)
      assert.strictEqual(error.message, `${code}: what went wrong (HTTP ${status}, ${endpoint})`)
      assert.strictEqual(OAuthError.fromCode(code)._tag, tag)
    })

    it("covers every class in byCode", () => {
      assert.strictEqual(Object.keys(OAuthError.byCode).length, 22)
    })

    it.each([[400, "configuration"], [404, "configuration"], [500, "retry"], [502, "retry"]] as const)(
      "an unknown code keeps the code (HTTP %d: %s)",
      (status, disposition) => {
        const error = fromJson(status, { error: "account_locked", error_description: "ask again" })
        assert.instanceOf(error, OAuthError.UnknownOAuthError)
        assert.strictEqual(error._tag, "UnknownOAuthError")
        assert.strictEqual(error.code, "account_locked")
        assert.strictEqual(error.disposition, disposition)
        assert.strictEqual(error.message, `account_locked: ask again (HTTP ${status}, ${endpoint})`)
      }
    )

    it("codes that are Object.prototype keys are unknown codes, not crashes", () => {
      for (const code of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
        const error = OAuthError.fromCode(code)
        assert.strictEqual(error._tag, "UnknownOAuthError")
        assert.strictEqual(error.code, code)
      }
    })

    it("ignores description and uri that are not strings", () => {
      const error = fromJson(400, { error: "invalid_grant", error_description: 42, error_uri: ["x"] })
      assert.strictEqual(error._tag, "InvalidGrant")
      if (error._tag !== "InvalidGrant") return
      assert.isUndefined(error.description)
      assert.isUndefined(error.uri)
    })

    it.effect("is a yieldable error matched by its tag", () =>
      Effect.gen(function*() {
        const recovered = yield* Effect.fail(fromJson(400, { error: "invalid_grant" })).pipe(
          Effect.catchTag("InvalidGrant", (error) => Effect.succeed([error.code, error.disposition] as const))
        )
        expectTypeOf(recovered).toEqualTypeOf<readonly ["invalid_grant", OAuthError.Disposition]>()
        assert.deepStrictEqual(recovered, ["invalid_grant", "reauthenticate"])
      }))

    it("each class is its own schema, under a package-qualified identifier", () => {
      const schema = Schema.Union(...Object.values(OAuthError.byCode))
      for (const [code, Class] of Object.entries(OAuthError.byCode)) {
        const error = OAuthError.fromCode(code, { description: "what went wrong", retryAfter: Duration.seconds(5) })
        if (error._tag === "UnknownOAuthError") throw new Error("unreachable")
        const decoded = Schema.decodeUnknownSync(schema)(Schema.encodeSync(schema)(error))
        assert.strictEqual(Class.identifier, `@tokenfx/core/${Class._tag}`)
        assert.isTrue(decoded instanceof Class)
        assert.isTrue(Equal.equals(decoded, error))
        assert.strictEqual(decoded.message, error.message)
      }
    })

    it("keeps the literal type of each code and the types of the extra fields", () => {
      expectTypeOf<OAuthError.InvalidGrant["code"]>().toEqualTypeOf<"invalid_grant">()
      expectTypeOf<OAuthError.InvalidToken["challenge"]>().toEqualTypeOf<{ readonly [x: string]: string } | undefined>()
      expectTypeOf<OAuthError.InsufficientScope["scope"]>().toEqualTypeOf<string | undefined>()
      expectTypeOf<OAuthError.UnknownOAuthError["code"]>().toEqualTypeOf<string>()
      expectTypeOf<Exclude<OAuthError.ProtocolError, OAuthError.UnknownOAuthError>["code"]>().toEqualTypeOf<
        keyof typeof OAuthError.byCode
      >()
      assert.strictEqual(new OAuthError.InvalidGrant().code, "invalid_grant")
    })
  })

  describe("the errors around the protocol", () => {
    it("TransportError is retryable for connection problems and timeouts only", () => {
      const connection = new OAuthError.TransportError({
        reason: "Connection",
        endpoint,
        cause: new Error("ECONNRESET")
      })
      assert.strictEqual(connection.disposition, "retry")
      assert.strictEqual(connection.message, `Connection error (${endpoint})`)
      assert.strictEqual(new OAuthError.TransportError({ reason: "Timeout" }).disposition, "retry")
      assert.strictEqual(new OAuthError.TransportError({ reason: "Insecure" }).disposition, "configuration")
      assert.strictEqual(new OAuthError.TransportError({ reason: "Redirect" }).disposition, "configuration")
      assert.isTrue(OAuthError.isOAuthError(connection))
    })

    it("MalformedResponse names the field and the answer", () => {
      const error = new OAuthError.MalformedResponse({
        reason: "expected a non-empty string",
        field: "access_token",
        status: 200,
        endpoint
      })
      assert.strictEqual(error.message, `access_token: expected a non-empty string (HTTP 200, ${endpoint})`)
      assert.strictEqual(error.disposition, "configuration")
      assert.strictEqual(new OAuthError.MalformedResponse({ reason: "x", status: 502 }).disposition, "retry")
    })

    it("ReconnectRequired asks for a new login", () => {
      const error = new OAuthError.ReconnectRequired({ key: "user-1", reason: "refresh token revoked" })
      assert.strictEqual(error.disposition, "reauthenticate")
      assert.strictEqual(error.message, "Reconnect required for \"user-1\": refresh token revoked")
      assert.isTrue(OAuthError.isOAuthError(error))
      assert.isFalse(OAuthError.isOAuthError(new Error("x")))
      assert.isFalse(OAuthError.isOAuthError(null))
    })
  })
})
