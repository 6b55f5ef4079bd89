import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

const codes = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_token",
  "access_denied",
  "authorization_pending",
  "slow_down",
  "expired_token",
  "rate_limited",
  "server_error",
  "temporarily_unavailable",
  "unsupported_token_type",
  "invalid_target"
]

const anything = FastCheck.oneof(
  FastCheck.string(),
  FastCheck.integer(),
  FastCheck.double(),
  FastCheck.boolean(),
  FastCheck.constant(null),
  FastCheck.array(FastCheck.string(), { maxLength: 3 })
)

// Bodies that look like answers more often than noise does, so that decoding paths are exercised.
const body = FastCheck.oneof(
  FastCheck.string(),
  FastCheck.json(),
  FastCheck.constant("<html><body>502 Bad Gateway</body></html>"),
  FastCheck.record({
    access_token: FastCheck.oneof(FastCheck.string(), anything),
    token_type: FastCheck.oneof(FastCheck.constantFrom("Bearer", "bearer", "DPoP"), anything),
    expires_in: FastCheck.oneof(FastCheck.integer({ min: -10, max: 100_000 }), FastCheck.string(), anything),
    refresh_token: anything,
    scope: anything,
    active: anything,
    device_code: anything,
    user_code: anything,
    verification_uri: anything
  }, { requiredKeys: [] }).map((fields) => JSON.stringify(fields)),
  FastCheck.record({
    error: FastCheck.oneof(FastCheck.constantFrom(...codes), FastCheck.string(), anything),
    error_description: anything,
    error_uri: anything
  }, { requiredKeys: [] }).map((fields) => JSON.stringify(fields))
)

const status = FastCheck.oneof(
  FastCheck.integer({ min: 200, max: 599 }),
  FastCheck.constantFrom(200, 201, 204, 302, 400, 401, 403, 404, 429, 500, 502, 503)
)

const retryAfter = FastCheck.option(
  FastCheck.oneof(FastCheck.nat().map(String), FastCheck.date().map((d) => d.toUTCString()), FastCheck.string())
)

const operation = FastCheck.constantFrom(
  "clientCredentials",
  "refresh",
  "revoke",
  "introspect",
  "deviceAuthorization",
  "grant"
)

const previous = new Token.Token({
  accessToken: Redacted.make("old"),
  tokenType: "Bearer",
  refreshToken: Redacted.make("rt-1"),
  issuedAt: DateTime.unsafeMake(0),
  scopes: []
})

describe("TokenEndpoint properties", () => {
  it.effect.prop(
    "any status and body give a Token or a typed error, never a defect",
    [status, body, retryAfter, operation],
    ([status, body, retryAfter, operation]) =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          { status, body, headers: retryAfter === null ? {} : { "retry-after": retryAfter } }
        ])
        // One attempt: a retry would wait on the TestClock.
        const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
        const run: Effect.Effect<unknown, { readonly _tag: string }> = operation === "clientCredentials"
          ? endpoint.clientCredentials()
          : operation === "refresh"
          ? endpoint.refresh(previous)
          : operation === "revoke"
          ? endpoint.revoke(Redacted.make("t"))
          : operation === "introspect"
          ? endpoint.introspect(Redacted.make("t"))
          : operation === "deviceAuthorization"
          ? endpoint.deviceAuthorization()
          : endpoint.grant("urn:example:grant", {})
        const exit = yield* Effect.exit(run)
        if (Exit.isSuccess(exit)) {
          assert.isTrue(status >= 200 && status < 300)
          if (operation === "clientCredentials" || operation === "refresh" || operation === "grant") {
            assert.isTrue(Token.isToken(exit.value))
          }
          return
        }
        const failure = Cause.failureOption(exit.cause)
        assert.isTrue(Option.isSome(failure), Cause.pretty(exit.cause))
        const error = Option.getOrThrow(failure)
        assert.isTrue(OAuthError.isOAuthError(error), error._tag)
        assert.notInclude(String(error), "rt-1")
      })
  )
})
