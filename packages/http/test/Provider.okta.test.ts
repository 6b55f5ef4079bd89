/**
 * Okta, against the Okta dialect of the in-memory server. Behaviours from:
 * - https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/ (custom authorization
 *   server paths: /oauth2/{authorizationServerId}/v1/token, /revoke, /introspect)
 * - https://developer.okta.com/docs/guides/refresh-tokens/main/ (rotation with a grace period)
 * - https://developer.okta.com/docs/reference/rl-best-practices/ (X-Rate-Limit-Reset, UTC epoch seconds)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { access, client, harness, refresh } from "./utils/providerHarness.js"

const setup = harness({
  dialect: Dialect.okta,
  issuer: "https://example.okta.test/oauth2/default",
  profile: () => Provider.okta({ ...client, domain: "example.okta.test" })
})

describe("Provider.okta", () => {
  it.scoped("authorization server paths, rotation with a 30-second grace period, introspect, revoke", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, sent, server, tags } = yield* setup
      const { request, token } = yield* login()
      assert.strictEqual(new URL(request.url).pathname, "/oauth2/default/v1/authorize")
      assert.strictEqual(new URL(request.url).searchParams.get("scope"), "openid offline_access")
      assert.strictEqual(sent.at(-1)?.path, "/oauth2/default/v1/token")

      yield* manager.set("alice", token)
      yield* TestClock.adjust("1 hour")
      const second = yield* manager.get("alice")
      assert.notStrictEqual(refresh(second), refresh(token))
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Rotated"])
      // Within the grace period the previous refresh token still works (a sibling's late request).
      yield* TestClock.adjust("29 seconds")
      yield* endpoint.refresh(token)
      // After it, presenting it again revokes the grant.
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InvalidGrant")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(second)))._tag, "InvalidGrant")

      const fresh = (yield* login()).token
      const described = yield* endpoint.introspect(fresh.accessToken, "access_token")
      assert.isTrue(described.active)
      assert.strictEqual(sent.at(-1)?.path, "/oauth2/default/v1/introspect")
      yield* manager.set("alice", fresh)
      assert.strictEqual((yield* manager.revoke("alice"))._tag, "Revoked")
      assert.strictEqual(sent.at(-1)?.path, "/oauth2/default/v1/revoke")
      assert.isFalse((yield* endpoint.introspect(fresh.accessToken)).active)
      assert.strictEqual((yield* server.stats).revocationRequests, 1)
    }))

  it.scoped("429 with x-rate-limit-reset: the endpoint waits until the reset, then succeeds", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup
      const { token } = yield* login()
      yield* TestClock.adjust("1000 seconds")
      yield* server.failNext(1, { status: 429, headers: { "retry-after": "20" } })
      const fiber = yield* Effect.fork(endpoint.refresh(token))
      yield* TestClock.adjust("19 seconds")
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, 1, "no retry before the reset")
      yield* TestClock.adjust(Duration.seconds(2))
      const next = yield* Fiber.join(fiber)
      assert.notStrictEqual(access(next), access(token))
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, 2)
    }))
})
