/**
 * Keycloak, against the Keycloak dialect of the in-memory server. Behaviours from:
 * - https://www.keycloak.org/securing-apps/oidc-layers (realm endpoints: token, revoke, introspect;
 *   refresh_expires_in; offline tokens)
 * - https://www.keycloak.org/docs/latest/server_admin/#_timeouts (SSO Session Idle, "Revoke Refresh Token")
 */
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { access, client, harness, rateLimitedRefresh, refresh } from "./utils/providerHarness.js"

const profile = (offlineAccess: boolean) => () =>
  Provider.keycloak({ ...client, baseUrl: "https://sso.test", realm: "acme", offlineAccess })

// Access tokens live 5 minutes, the session's refresh tokens 30 (SSO Session Idle).
const online = harness({
  dialect: Dialect.keycloak,
  issuer: "https://sso.test/realms/acme",
  profile: profile(false),
  server: { accessTokenTtl: "5 minutes", refreshTokenTtl: "30 minutes" }
})

describe("Provider.keycloak", () => {
  it.scoped("realm paths, refresh_expires_in, refreshes that extend the session, introspect and revoke", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, sent, tags } = yield* online
      const { request, token } = yield* login()
      assert.strictEqual(new URL(request.url).pathname, "/realms/acme/protocol/openid-connect/auth")
      assert.strictEqual(sent.at(-1)?.path, "/realms/acme/protocol/openid-connect/token")
      assert.strictEqual(DateTime.toEpochMillis(token.refreshTokenExpiresAt!), 30 * 60_000)

      yield* manager.set("alice", token)
      yield* TestClock.adjust("5 minutes")
      const second = yield* manager.get("alice")
      assert.strictEqual(DateTime.toEpochMillis(second.refreshTokenExpiresAt!), 35 * 60_000)
      // "Revoke Refresh Token" off (the default): the previous refresh token still works.
      yield* endpoint.refresh(token)
      assert.deepStrictEqual((yield* tags).filter((tag) => tag !== "Rotated"), ["Refreshed"])

      const described = yield* endpoint.introspect(second.accessToken, "access_token")
      assert.isTrue(described.active)
      assert.strictEqual(sent.at(-1)?.path, "/realms/acme/protocol/openid-connect/token/introspect")
      assert.strictEqual((yield* manager.revoke("alice"))._tag, "Revoked")
      assert.strictEqual(sent.at(-1)?.path, "/realms/acme/protocol/openid-connect/revoke")
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(second)))._tag, "InvalidGrant")
    }))

  it.scoped("an idle session: ReconnectSoon ahead of refresh_expires_in, then ReconnectRequired without a call", () =>
    Effect.gen(function*() {
      const { login, manager, server, tags } = yield* online
      yield* manager.set("alice", (yield* login()).token)
      // Half the refresh token's 30 minutes ahead, since that is shorter than the default day.
      yield* TestClock.adjust("14 minutes")
      assert.deepStrictEqual(yield* tags, [])
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* tags, ["ReconnectSoon"])
      yield* TestClock.adjust("15 minutes")
      const before = (yield* server.stats).tokenRequests.refresh_token ?? 0
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual(
        (yield* server.stats).tokenRequests.refresh_token ?? 0,
        before,
        "the dead refresh token is never sent"
      )
      assert.deepStrictEqual(yield* tags, ["ReconnectRequired"])
    }))

  it.scoped("offline tokens: refresh_expires_in 0 means the refresh token does not expire", () =>
    Effect.gen(function*() {
      const { login, manager, server, tags } = yield* harness({
        dialect: Dialect.keycloak,
        issuer: "https://sso.test/realms/acme",
        profile: profile(true),
        server: { accessTokenTtl: "5 minutes" }
      })
      const { request, token } = yield* login()
      assert.strictEqual(new URL(request.url).searchParams.get("scope"), "openid offline_access")
      assert.isUndefined(token.refreshTokenExpiresAt)
      yield* manager.set("alice", token)
      yield* TestClock.adjust("3 hours")
      const next = yield* manager.get("alice")
      assert.notStrictEqual(access(next), access(token))
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, 1)
      assert.notInclude(yield* tags, "ReconnectSoon")
    }))

  it.scoped("with Revoke Refresh Token on, a used refresh token is refused", () =>
    Effect.gen(function*() {
      const { endpoint, login } = yield* harness({
        dialect: Dialect.keycloakRevokeRefreshToken,
        issuer: "https://sso.test/realms/acme",
        profile: profile(false)
      })
      const { token } = yield* login()
      const next = yield* endpoint.refresh(token)
      assert.notStrictEqual(refresh(next), refresh(token))
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InvalidGrant")
    }))
  it.scoped("rate limited (429, Retry-After): no retry before the wait, the refresh done after it", () =>
    Effect.gen(function*() {
      const result = yield* rateLimitedRefresh(yield* online)
      assert.deepStrictEqual(result, { early: 1, late: 2, renewed: true })
    }))
})
