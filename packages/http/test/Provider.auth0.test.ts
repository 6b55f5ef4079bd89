/**
 * Auth0, against the Auth0 dialect of the in-memory server. Behaviours from:
 * - https://auth0.com/docs/secure/tokens/refresh-tokens/refresh-token-rotation (rotation, reuse detection)
 * - https://auth0.com/docs/secure/tokens/refresh-tokens/configure-refresh-token-rotation (the reuse interval,
 *   `leeway`: the previous token may be exchanged again within it, and only the previous one)
 * - https://auth0.com/docs/secure/tokens/refresh-tokens/revoke-refresh-tokens (/oauth/revoke)
 * - https://auth0.com/docs/secure/tokens/access-tokens/get-access-tokens (audience)
 * - https://auth0.com/docs/mfa/authenticate-with-ropg-and-mfa (mfa_required with mfa_token)
 * - https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy (x-ratelimit-reset)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { client, harness, refresh } from "./utils/providerHarness.js"

const setup = harness({
  dialect: Dialect.auth0,
  issuer: "https://tenant.auth0.test",
  profile: (issuer) => Provider.auth0({ ...client, domain: issuer, audience: "https://api.example.com" })
})

// A tenant whose application has a 30-second reuse interval.
const withLeeway = harness({
  dialect: Dialect.auth0WithReuseInterval("30 seconds"),
  issuer: "https://tenant.auth0.test",
  profile: (issuer) => Provider.auth0({ ...client, domain: issuer, audience: "https://api.example.com" })
})

describe("Provider.auth0", () => {
  it.scoped("audience and offline_access, rotation, reuse detection revoking the grant, /oauth/revoke", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, sent, server, tags } = yield* setup
      const { request, token } = yield* login()
      const url = new URL(request.url)
      assert.strictEqual(url.pathname, "/authorize")
      assert.strictEqual(url.searchParams.get("audience"), "https://api.example.com")
      assert.strictEqual(url.searchParams.get("scope"), "openid offline_access")
      assert.strictEqual(sent.at(-1)?.path, "/oauth/token")

      yield* manager.set("alice", token)
      yield* TestClock.adjust("1 hour")
      const second = yield* manager.get("alice")
      assert.notStrictEqual(refresh(second), refresh(token))
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Rotated"])
      // The consumed refresh token presented again: reuse detection revokes the whole grant.
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InvalidGrant")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(second)))._tag, "InvalidGrant")

      const fresh = (yield* login()).token
      yield* manager.set("alice", fresh)
      assert.strictEqual((yield* manager.revoke("alice"))._tag, "Revoked")
      assert.strictEqual(sent.at(-1)?.path, "/oauth/revoke")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(fresh)))._tag, "InvalidGrant")
      assert.strictEqual((yield* server.stats).revocationRequests, 1)
    }))

  it.scoped("client credentials carry the audience", () =>
    Effect.gen(function*() {
      const { endpoint, forms, server } = yield* setup
      const token = yield* endpoint.clientCredentials()
      assert.strictEqual(token.tokenType, "Bearer")
      assert.strictEqual(forms.at(-1)?.get("audience"), "https://api.example.com")
      assert.isNull(forms.at(-1)?.get("scope") ?? null, "no offline_access for a client")
      assert.strictEqual((yield* server.stats).tokensIssued.client_credentials, 1)
    }))

  it.scoped("mfa_required (HTTP 403) is MfaRequired with its mfa_token, kept secret", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup
      const { token } = yield* login()
      yield* server.failNext(1, {
        status: 403,
        body: { error: "mfa_required", error_description: "Multifactor authentication required", mfa_token: "Fe26.mfa" }
      })
      const error = yield* Effect.flip(endpoint.refresh(token))
      assert.strictEqual(error._tag, "MfaRequired")
      if (error._tag !== "MfaRequired") return
      assert.strictEqual(Redacted.value(error.mfaToken!), "Fe26.mfa")
      assert.notInclude(error.message, "Fe26")
      assert.notInclude(JSON.stringify(error), "Fe26")
    }))

  it.scoped("429 with x-ratelimit-reset (epoch seconds): RateLimited with the wait it names", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup
      const { token } = yield* login()
      yield* TestClock.adjust("1000 seconds")
      yield* server.failNext(10, { status: 429, headers: { "retry-after": "30" } })
      const error = yield* Effect.flip(endpoint.refresh(token)).pipe(
        Effect.fork,
        Effect.tap(() => TestClock.adjust("10 minutes")),
        Effect.flatMap((fiber) => fiber.await),
        Effect.flatten
      )
      assert.strictEqual(error._tag, "RateLimited")
      assert.deepStrictEqual(error._tag === "RateLimited" ? error.retryAfter : undefined, Duration.seconds(30))
    }))

  it.scoped("reuse interval: the previous refresh token works again inside it; after it, reuse revokes the grant", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, server, tags } = yield* withLeeway
      const { token } = yield* login()
      yield* manager.set("alice", token)
      yield* TestClock.adjust("1 hour")
      const second = yield* manager.get("alice")
      assert.notStrictEqual(refresh(second), refresh(token))
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Rotated"])

      // 29 seconds after its rotation (another instance that lost the race, say): a new token, no detection.
      yield* TestClock.adjust("29 seconds")
      const raced = yield* endpoint.refresh(token)
      assert.notStrictEqual(refresh(raced), refresh(second))
      assert.strictEqual((yield* server.stats).errors["invalid_grant"] ?? 0, 0)
      // The family lives on: the manager's token still refreshes.
      const third = yield* endpoint.refresh(second)
      assert.isString(refresh(third))

      // Past the interval: reuse detection, and the whole family is revoked.
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InvalidGrant")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(third)))._tag, "InvalidGrant")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(raced)))._tag, "InvalidGrant")
    }))

  it.scoped("reuse interval: only the previous token; one rotated twice is reuse even inside the interval", () =>
    Effect.gen(function*() {
      const { endpoint, login } = yield* withLeeway
      const { token } = yield* login()
      const second = yield* endpoint.refresh(token)
      yield* TestClock.adjust("5 seconds")
      const third = yield* endpoint.refresh(second)
      yield* TestClock.adjust("5 seconds")
      // `token` is now second-to-last: presenting it is reuse, and the family dies.
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InvalidGrant")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(third)))._tag, "InvalidGrant")
    }))
})
