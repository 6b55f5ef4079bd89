import { assert, describe, expectTypeOf, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import * as Schema from "effect/Schema"

const NOW = Date.UTC(2025, 0, 1, 0, 0, 0)
const endpoint = "https://as.example/token"

const fromJson = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  OAuthError.fromHttp({ status, headers, body: JSON.stringify(body), endpoint }, NOW)

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

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
      assert.strictEqual(Object.keys(OAuthError.byCode).length, 21)
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

  describe("answers without an OAuth body", () => {
    it("an HTML 500 page is a ServerError, and its content is not copied", () => {
      const html = "<html><body><h1>Internal Server Error</h1><p>stack trace with secrets</p></body></html>"
      const error = OAuthError.fromHttp({ status: 500, headers: { "content-type": "text/html" }, body: html }, NOW)
      assert.strictEqual(error._tag, "ServerError")
      assert.strictEqual(error.disposition, "retry")
      assert.strictEqual(error.status, 500)
      assert.notInclude(JSON.stringify(error), "stack trace")
      assert.notInclude(error.message, "<html>")
    })

    it.each(
      [
        [503, "TemporarilyUnavailable", "retry"],
        [502, "ServerError", "retry"],
        [504, "ServerError", "retry"],
        [429, "RateLimited", "retry"],
        [400, "InvalidRequest", "configuration"],
        [401, "InvalidClient", "configuration"],
        [403, "AccessDenied", "reauthenticate"]
      ] as const
    )("an empty %d is %s", (status, tag, disposition) => {
      const error = OAuthError.fromHttp({ status, headers: {}, body: "" }, NOW)
      assert.strictEqual(error._tag, tag)
      assert.strictEqual(error.disposition, disposition)
      assert.strictEqual(error.status, status)
    })

    it.each([
      [404, "<html>Not Found</html>", "expected an OAuth error body, got something else"],
      [418, JSON.stringify({ message: "teapot" }), "error body has no error code"],
      [409, JSON.stringify({ error: "" }), "error body has no error code"],
      [410, JSON.stringify({ error: 42 }), "error body has no error code"]
    ])("a %d with an unusable body is a MalformedResponse", (status, body, reason) => {
      const error = OAuthError.fromHttp({ status, headers: {}, body, endpoint }, NOW)
      assert.strictEqual(error._tag, "MalformedResponse")
      if (error._tag !== "MalformedResponse") return
      assert.strictEqual(error.reason, reason)
      assert.strictEqual(error.status, status)
      assert.strictEqual(error.endpoint, endpoint)
      assert.strictEqual(error.disposition, "configuration")
    })
  })

  describe("Retry-After", () => {
    it("a 429 with only Retry-After: 7 waits 7 seconds", () => {
      const error = OAuthError.fromHttp({ status: 429, headers: { "Retry-After": "7" }, body: "" }, NOW)
      assert.strictEqual(error._tag, "RateLimited")
      if (error._tag !== "RateLimited") return
      assert.strictEqual(millis(error.retryAfter), 7000)
      assert.include(error.message, "retry after 7s")
    })

    it("a 429 with an HTTP date waits until that date, measured from now", () => {
      const error = OAuthError.fromHttp(
        { status: 429, headers: { "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }, body: "" },
        NOW
      )
      assert.strictEqual(error._tag, "RateLimited")
      if (error._tag !== "RateLimited") return
      assert.strictEqual(millis(error.retryAfter), 30_000)
      const later = OAuthError.fromHttp(
        { status: 429, headers: { "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }, body: "" },
        NOW + 20_000
      )
      assert.strictEqual(later._tag === "RateLimited" ? millis(later.retryAfter) : -1, 10_000)
    })

    it("a JSON error keeps the Retry-After of its answer", () => {
      const error = fromJson(503, { error: "temporarily_unavailable" }, { "Retry-After": "120" })
      assert.strictEqual(error._tag, "TemporarilyUnavailable")
      assert.strictEqual(error._tag === "TemporarilyUnavailable" ? millis(error.retryAfter) : -1, 120_000)
    })

    it.each([
      ["7", 7000],
      [" 0 ", 0],
      ["Wed, 01 Jan 2025 00:01:00 GMT", 60_000],
      ["Wednesday, 01-Jan-25 00:01:00 GMT", 60_000],
      ["Wed Jan  1 00:01:00 2025", 60_000],
      ["Tue, 31 Dec 2024 23:00:00 GMT", 0],
      ["soon", undefined],
      ["-1", undefined],
      ["1.5", undefined],
      ["", undefined],
      [undefined, undefined]
    ])("Retry-After %j is %j ms", (value, expected) => {
      assert.strictEqual(millis(OAuthError.parseRetryAfter(value, NOW)), expected)
    })
  })

  describe("WWW-Authenticate", () => {
    it("a 401 without a body or challenge is InvalidClient (token endpoint)", () => {
      const error = OAuthError.fromHttp({ status: 401, headers: {}, body: "", endpoint }, NOW)
      assert.strictEqual(error._tag, "InvalidClient")
      assert.strictEqual(error.status, 401)
    })

    it("a 401 under a bare Bearer challenge is InvalidToken (resource server)", () => {
      const error = OAuthError.fromHttp({
        status: 401,
        headers: { "WWW-Authenticate": "Bearer realm=\"api\"" },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InvalidToken")
      assert.deepStrictEqual(error._tag === "InvalidToken" ? error.challenge : undefined, { realm: "api" })
    })

    it("a 401 under a Basic challenge is InvalidClient", () => {
      const error = OAuthError.fromHttp({
        status: 401,
        headers: { "www-authenticate": "Basic realm=\"token endpoint\"" },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InvalidClient")
    })

    it("the error of a Bearer challenge becomes its class", () => {
      const error = OAuthError.fromHttp({
        status: 401,
        headers: {
          "www-authenticate": "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"The token expired\""
        },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InvalidToken")
      if (error._tag !== "InvalidToken") return
      assert.strictEqual(error.description, "The token expired")
      assert.deepStrictEqual(error.challenge, {
        realm: "api",
        error: "invalid_token",
        error_description: "The token expired"
      })
    })

    it("insufficient_scope carries the scope the resource needs", () => {
      const error = OAuthError.fromHttp({
        status: 403,
        headers: { "WWW-Authenticate": "Bearer error=\"insufficient_scope\", scope=\"read write\"" },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InsufficientScope")
      if (error._tag !== "InsufficientScope") return
      assert.strictEqual(error.scope, "read write")
      assert.strictEqual(error.disposition, "reauthenticate")
      assert.include(error.message, "[required scope: read write]")
    })

    it("a JSON body wins over the challenge", () => {
      const error = fromJson(401, { error: "invalid_client" }, { "www-authenticate": "Bearer error=\"invalid_token\"" })
      assert.strictEqual(error._tag, "InvalidClient")
    })

    it.each(
      [
        ["", []],
        ["Bearer", [{ scheme: "Bearer", params: {} }]],
        [
          "Bearer realm=\"example\", error=\"invalid_token\", error_description=\"The access token expired\"",
          [{
            scheme: "Bearer",
            params: { realm: "example", error: "invalid_token", error_description: "The access token expired" }
          }]
        ],
        [
          "Basic realm=\"a\", Bearer realm=\"b\", error=invalid_token",
          [
            { scheme: "Basic", params: { realm: "a" } },
            { scheme: "Bearer", params: { realm: "b", error: "invalid_token" } }
          ]
        ],
        [
          "Bearer error_description=\"say \\\"hi\\\", then, leave\", REALM=api",
          [{ scheme: "Bearer", params: { error_description: "say \"hi\", then, leave", realm: "api" } }]
        ],
        [
          "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
          [
            { scheme: "Newauth", params: { realm: "apps", type: "1", title: "Login to \"apps\"" } },
            { scheme: "Basic", params: { realm: "simple" } }
          ]
        ],
        ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", [{ scheme: "Basic", params: {}, token68: "YWxhZGRpbjpvcGVuc2VzYW1l" }]],
        [
          "Negotiate abc+/==, Bearer realm=\"x\"",
          [{ scheme: "Negotiate", params: {}, token68: "abc+/==" }, { scheme: "Bearer", params: { realm: "x" } }]
        ],
        [
          "Bearer error=\"insufficient_scope\", scope=\"read write\", DPoP algs=\"ES256 PS256\"",
          [
            { scheme: "Bearer", params: { error: "insufficient_scope", scope: "read write" } },
            { scheme: "DPoP", params: { algs: "ES256 PS256" } }
          ]
        ],
        ["Bearer realm=\"unterminated", [{ scheme: "Bearer", params: { realm: "unterminated" } }]],
        ["Bearer ,, realm=\"x\" ,", [{ scheme: "Bearer", params: { realm: "x" } }]]
      ] as const
    )("parses %j", (header, expected) => {
      assert.deepStrictEqual(OAuthError.parseWwwAuthenticate(header), expected)
    })

    it("fromChallenge without an error code is undefined", () => {
      assert.isUndefined(OAuthError.fromChallenge({ scheme: "Bearer", params: { realm: "api" } }))
      const error = OAuthError.fromChallenge({ scheme: "Bearer", params: { error: "invalid_request" } }, {
        status: 400
      })
      assert.strictEqual(error?._tag, "InvalidRequest")
      assert.strictEqual(error?.status, 400)
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
