import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Compliance from "@tokenfx/http/Compliance"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

// A server that answers every request with `answer`.
const endpointAnswering = (
  answer: { readonly status: number; readonly body: string; readonly headers?: Record<string, string> },
  compliance?: Compliance.Compliance
) =>
  TokenEndpoint.make({
    tokenEndpoint: "https://id.acme.test/token",
    revocationEndpoint: "https://id.acme.test/revoke",
    clientId: "client",
    clientSecret: Redacted.make("secret"),
    backoff: { maxAttempts: 1 },
    compliance
  }).pipe(
    Effect.provideService(
      HttpClient.HttpClient,
      HttpClient.make((request) =>
        Effect.succeed(
          HttpClientResponse.fromWeb(
            request,
            new Response(answer.body, { status: answer.status, headers: answer.headers ?? {} })
          )
        )
      )
    )
  )

const token = Token.make(
  Schema.decodeUnknownSync(Token.TokenResponse)({ access_token: "at", refresh_token: "rt" }),
  0
)

// The module example: a provider with its own dead-grant answer, commas and an epoch reset header.
const acme = Compliance.compose(
  Compliance.mapJson((body, answer) =>
    answer.endpoint === "token" && body["status"] === "expired"
      ? { error: "invalid_grant", error_description: "the refresh token expired" }
      : body
  ),
  Compliance.scopeSeparator(","),
  Compliance.rateLimitReset("x-ratelimit-reset"),
  Compliance.mapError((error) =>
    error._tag === "UnknownOAuthError" && error.code === "acme_locked"
      ? new OAuthError.AccessDenied({ description: error.description, status: error.status })
      : error
  )
)

describe("Compliance", () => {
  it.effect("a provider's own dead-grant answer is read as InvalidGrant (a MalformedResponse without the hook)", () =>
    Effect.gen(function*() {
      const answer = { status: 401, body: JSON.stringify({ status: "expired" }) }
      const without = yield* Effect.flip((yield* endpointAnswering(answer)).refresh(token))
      assert.strictEqual(without._tag, "InvalidClient")
      const error = yield* Effect.flip((yield* endpointAnswering(answer, acme)).refresh(token))
      assert.strictEqual(error._tag, "InvalidGrant")
      assert.strictEqual(error._tag === "InvalidGrant" ? error.status : undefined, 401)
    }))

  it.effect("a provider's error code mapped to a tokenfx class", () =>
    Effect.gen(function*() {
      const answer = { status: 400, body: JSON.stringify({ error: "acme_locked", error_description: "locked" }) }
      assert.strictEqual(
        (yield* Effect.flip((yield* endpointAnswering(answer)).refresh(token)))._tag,
        "UnknownOAuthError"
      )
      const error = yield* Effect.flip((yield* endpointAnswering(answer, acme)).refresh(token))
      assert.strictEqual(error._tag, "AccessDenied")
    }))

  it.effect("comma-separated scopes, and form-encoded answers, read as the RFC's", () =>
    Effect.gen(function*() {
      const comma = {
        status: 200,
        body: JSON.stringify({ access_token: "a", token_type: "bearer", scope: "repo,gist" })
      }
      assert.deepStrictEqual((yield* (yield* endpointAnswering(comma, acme)).clientCredentials()).scopes, [
        "repo",
        "gist"
      ])
      const form = { status: 200, body: "access_token=a&token_type=bearer&scope=repo%2Cgist" }
      const error = yield* Effect.flip((yield* endpointAnswering(form)).clientCredentials())
      assert.strictEqual(error._tag, "MalformedResponse")
      const read = yield* (yield* endpointAnswering(form, Compliance.compose(Compliance.formBodies, acme)))
        .clientCredentials()
      assert.deepStrictEqual(read.scopes, ["repo", "gist"])
    }))

  it.effect("an epoch reset header becomes the wait, measured against the answer's Date, not the client's clock", () =>
    Effect.gen(function*() {
      // The client's clock runs an hour behind the server's.
      yield* TestClock.setTime(1_700_000_000_000)
      const answer = {
        status: 429,
        body: "",
        headers: {
          date: new Date(1_700_003_600_000).toUTCString(),
          "x-ratelimit-reset": String(1_700_003_600 + 42)
        }
      }
      const error = yield* Effect.flip((yield* endpointAnswering(answer, acme)).refresh(token))
      assert.strictEqual(error._tag, "RateLimited")
      assert.deepStrictEqual(error._tag === "RateLimited" ? error.retryAfter : undefined, Duration.seconds(42))
    }))

  it.effect("a hostile reset header: one in the past is no wait, one that is not a number is ignored", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const at = (reset: string) => ({ status: 429, body: "", headers: { "x-ratelimit-reset": reset } })
      const past = yield* Effect.flip((yield* endpointAnswering(at("1"), acme)).refresh(token))
      assert.deepStrictEqual(past._tag === "RateLimited" ? past.retryAfter : undefined, Duration.zero)
      for (const garbage of ["-5", "1e30x", "soon", ""]) {
        const error = yield* Effect.flip((yield* endpointAnswering(at(garbage), acme)).refresh(token))
        assert.strictEqual(error._tag, "RateLimited")
        assert.isUndefined(error._tag === "RateLimited" ? error.retryAfter : "x", garbage)
      }
    }))

  it.effect("forEndpoints keeps a hook to its endpoints", () =>
    Effect.gen(function*() {
      const okOnRevoke = Compliance.forEndpoints(
        ["revocation"],
        Compliance.mapAnswer((answer) => ({ ...answer, status: 200, body: "{}" }))
      )
      const answer = { status: 400, body: JSON.stringify({ error: "invalid_token" }) }
      const endpoint = yield* endpointAnswering(answer, okOnRevoke)
      yield* endpoint.revoke(Redacted.make("rt"), "refresh_token")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "UnknownOAuthError")
    }))
})
