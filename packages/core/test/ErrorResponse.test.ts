import { assert, describe, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as Duration from "effect/Duration"

const NOW = Date.UTC(2025, 0, 1, 0, 0, 0)
const endpoint = "https://as.example/token"

const fromJson = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  ErrorResponse.fromHttp({ status, headers, body: JSON.stringify(body), endpoint }, NOW)

const millis = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

describe("ErrorResponse", () => {
  describe("answers without an OAuth body", () => {
    it("an HTML 500 page is a ServerError, and its content is not copied", () => {
      const html = "<html><body><h1>Internal Server Error</h1><p>stack trace with secrets</p></body></html>"
      const error = ErrorResponse.fromHttp({ status: 500, headers: { "content-type": "text/html" }, body: html }, NOW)
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
      const error = ErrorResponse.fromHttp({ status, headers: {}, body: "" }, NOW)
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
      const error = ErrorResponse.fromHttp({ status, headers: {}, body, endpoint }, NOW)
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
      const error = ErrorResponse.fromHttp({ status: 429, headers: { "Retry-After": "7" }, body: "" }, NOW)
      assert.strictEqual(error._tag, "RateLimited")
      if (error._tag !== "RateLimited") return
      assert.strictEqual(millis(error.retryAfter), 7000)
      assert.include(error.message, "retry after 7s")
    })

    it("a 429 with an HTTP date waits until that date, measured from now", () => {
      const error = ErrorResponse.fromHttp(
        { status: 429, headers: { "retry-after": "Wed, 01 Jan 2025 00:00:30 GMT" }, body: "" },
        NOW
      )
      assert.strictEqual(error._tag, "RateLimited")
      if (error._tag !== "RateLimited") return
      assert.strictEqual(millis(error.retryAfter), 30_000)
      const later = ErrorResponse.fromHttp(
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
  })

  describe("WWW-Authenticate", () => {
    it("a 401 without a body or challenge is InvalidClient (token endpoint)", () => {
      const error = ErrorResponse.fromHttp({ status: 401, headers: {}, body: "", endpoint }, NOW)
      assert.strictEqual(error._tag, "InvalidClient")
      assert.strictEqual(error.status, 401)
    })

    it("a 401 under a bare Bearer challenge is InvalidToken (resource server)", () => {
      const error = ErrorResponse.fromHttp({
        status: 401,
        headers: { "WWW-Authenticate": "Bearer realm=\"api\"" },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InvalidToken")
      assert.deepStrictEqual(error._tag === "InvalidToken" ? error.challenge : undefined, { realm: "api" })
    })

    it("a 401 under a Basic challenge is InvalidClient", () => {
      const error = ErrorResponse.fromHttp({
        status: 401,
        headers: { "www-authenticate": "Basic realm=\"token endpoint\"" },
        body: ""
      }, NOW)
      assert.strictEqual(error._tag, "InvalidClient")
    })

    it("the error of a Bearer challenge becomes its class", () => {
      const error = ErrorResponse.fromHttp({
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
      const error = ErrorResponse.fromHttp({
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

    it("fromChallenge without an error code is undefined", () => {
      assert.isUndefined(ErrorResponse.fromChallenge({ scheme: "Bearer", params: { realm: "api" } }))
      const error = ErrorResponse.fromChallenge({ scheme: "Bearer", params: { error: "invalid_request" } }, {
        status: 400
      })
      assert.strictEqual(error?._tag, "InvalidRequest")
      assert.strictEqual(error?.status, 400)
    })
  })
})
