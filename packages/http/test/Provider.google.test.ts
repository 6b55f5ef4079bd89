/**
 * Google, against the Google dialect of the in-memory server. Behaviours from:
 * - https://developers.google.com/identity/protocols/oauth2/web-server (access_type=offline,
 *   prompt=consent, refresh answers without a refresh token, revocation at oauth2.googleapis.com/revoke)
 * - https://developers.google.com/identity/protocols/oauth2/limited-input-device (verification_url)
 */
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { access, client, harness, rateLimitedRefresh, refresh } from "./utils/providerHarness.js"

const setup = harness({
  dialect: Dialect.google,
  issuer: "https://google.test",
  profile: (issuer) =>
    Provider.google({
      ...client,
      scope: ["openid", "email"],
      endpoint: {
        authorizationEndpoint: `${issuer}/o/oauth2/v2/auth`,
        tokenEndpoint: `${issuer}/token`,
        revocationEndpoint: `${issuer}/revoke`,
        deviceAuthorizationEndpoint: `${issuer}/device/code`
      }
    })
})

describe("Provider.google", () => {
  it.scoped("login with access_type=offline, refreshes that keep the refresh token, disconnect", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, server, tags } = yield* setup
      const { request, token } = yield* login()
      const url = new URL(request.url)
      assert.strictEqual(url.searchParams.get("access_type"), "offline")
      assert.strictEqual(url.searchParams.get("prompt"), "consent")
      assert.strictEqual(url.searchParams.get("scope"), "openid email")
      assert.isDefined(token.refreshToken)

      yield* manager.set("alice", token)
      yield* TestClock.adjust("1 hour")
      const second = yield* manager.get("alice")
      yield* TestClock.adjust("1 hour")
      const third = yield* manager.get("alice")
      assert.notStrictEqual(access(third), access(second))
      // No rotation: the answers carry no refresh token, and the first one is kept.
      assert.strictEqual(refresh(third), refresh(token))
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Refreshed"])

      assert.strictEqual((yield* manager.revoke("alice"))._tag, "Revoked")
      const gone = yield* Effect.flip(endpoint.refresh(third))
      assert.strictEqual(gone._tag, "InvalidGrant")
      assert.strictEqual(
        gone._tag === "InvalidGrant" ? gone.description : undefined,
        "Token has been expired or revoked."
      )
      assert.strictEqual((yield* server.stats).revocationRequests, 1)
    }))

  it.scoped("Token has been expired or revoked: ReconnectRequired once", () =>
    Effect.gen(function*() {
      const { login, manager, server, tags } = yield* setup
      yield* manager.set("alice", (yield* login()).token)
      yield* server.revokeAll
      yield* TestClock.adjust("1 hour")
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, 1)
      assert.deepStrictEqual(yield* tags, ["ReconnectRequired"])
    }))

  it.scoped("revoking a token Google no longer knows (400 invalid_token) is done, not an error", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup
      const { token } = yield* login()
      yield* server.failNext(1, { status: 400, body: { error: "invalid_token" }, endpoint: "revocation" })
      yield* endpoint.revoke(token.refreshToken!, "refresh_token")
      assert.strictEqual((yield* server.stats).revocationRequests, 1)
    }))

  it.scoped("device flow: verification_url is read as verification_uri", () =>
    Effect.gen(function*() {
      const { endpoint } = yield* setup
      const authorization = yield* endpoint.deviceAuthorization()
      assert.strictEqual(authorization.verificationUri, "https://google.test/device")
    }))
  it.scoped("rate limited (429, Retry-After): no retry before the wait, the refresh done after it", () =>
    Effect.gen(function*() {
      const result = yield* rateLimitedRefresh(yield* setup)
      assert.deepStrictEqual(result, { early: 1, late: 2, renewed: true })
    }))
  it.scoped("without offline access Google issues no refresh token: the profile asks for it by default", () =>
    Effect.gen(function*() {
      const { login } = yield* harness({
        dialect: Dialect.google,
        issuer: "https://google.test",
        profile: (issuer) =>
          Provider.google({
            ...client,
            offline: false,
            endpoint: { authorizationEndpoint: `${issuer}/o/oauth2/v2/auth`, tokenEndpoint: `${issuer}/token` }
          })
      })
      const { request, token } = yield* login()
      assert.isNull(new URL(request.url).searchParams.get("access_type"))
      assert.isUndefined(token.refreshToken)
    }))
})
