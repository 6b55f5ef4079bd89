/**
 * Microsoft Entra ID (v2.0), against the Entra ID dialect of the in-memory server. Behaviours from:
 * - https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow (tenant
 *   endpoints, offline_access, a new refresh token on every refresh, error answers)
 * - https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS700082,
 *   AADSTS50173, AADSTS65001, AADSTS50076; interaction_required and its suberrors)
 * - https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens (no RFC 7009 revocation)
 * - https://learn.microsoft.com/entra/identity-platform/claims-challenge (a resource's claims challenge,
 *   answered by a new authorization request with the `claims` parameter)
 */
import { assert, describe, it } from "@effect/vitest"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { access, client, harness, refresh } from "./utils/providerHarness.js"

const setup = harness({
  dialect: Dialect.entraId,
  issuer: "https://login.test/contoso.onmicrosoft.com",
  profile: () =>
    Provider.entraId({
      ...client,
      authority: "https://login.test",
      tenant: "contoso.onmicrosoft.com",
      scope: ["openid", "https://graph.test/.default"]
    }),
  // Entra ID: 90 days of inactivity; a day here, so that TestClock has fewer timers to step through.
  server: { refreshTokenTtl: "1 day" }
})

describe("Provider.entraId", () => {
  it.scoped("tenant endpoints, offline_access, rotation on every refresh with the old token still good", () =>
    Effect.gen(function*() {
      const { endpoint, forms, login, manager, sent, store, tags } = yield* setup
      const { request, token } = yield* login()
      const url = new URL(request.url)
      assert.strictEqual(url.pathname, "/contoso.onmicrosoft.com/oauth2/v2.0/authorize")
      assert.strictEqual(url.searchParams.get("scope"), "openid https://graph.test/.default offline_access")
      assert.strictEqual(sent.at(-1)?.path, "/contoso.onmicrosoft.com/oauth2/v2.0/token")
      // Entra ID does not say when the refresh token expires.
      assert.isUndefined(token.refreshTokenExpiresAt)

      yield* manager.set("alice", token)
      yield* TestClock.adjust("1 hour")
      const second = yield* manager.get("alice")
      assert.strictEqual(forms.at(-1)?.get("scope"), "openid https://graph.test/.default offline_access")
      assert.notStrictEqual(refresh(second), refresh(token))
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Rotated"])
      // No reuse detection: the previous refresh token still works.
      const again = yield* endpoint.refresh(token)
      assert.notStrictEqual(access(again), access(second))

      // No RFC 7009 endpoint: a disconnect is local.
      assert.strictEqual((yield* manager.revoke("alice"))._tag, "Unsupported")
      assert.isTrue(Option.isNone(yield* store.get("alice")))
    }))

  it.scoped("AADSTS700082 (refresh token expired from inactivity) is InvalidGrant: ReconnectRequired once", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, server, tags } = yield* setup
      const { token } = yield* login()
      yield* manager.set("alice", token)
      yield* TestClock.adjust("25 hours")
      const error = yield* Effect.flip(endpoint.refresh(token))
      assert.strictEqual(error._tag, "InvalidGrant")
      assert.match(error._tag === "InvalidGrant" ? error.description ?? "" : "", /^AADSTS700082/)
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, 2)
      assert.deepStrictEqual(yield* tags, ["ReconnectRequired"])
    }))

  it.scoped("consent (AADSTS65001, suberror consent_required) is ConsentRequired, and the grant is kept", () =>
    Effect.gen(function*() {
      const { login, manager, server, store } = yield* setup
      yield* manager.set("alice", (yield* login()).token)
      yield* server.failNext(1, {
        status: 400,
        body: {
          error: "invalid_grant",
          suberror: "consent_required",
          error_description: "AADSTS65001: The user or administrator has not consented to use the application.",
          error_codes: [65001]
        }
      })
      yield* TestClock.adjust("1 hour")
      const error = yield* Effect.flip(manager.get("alice"))
      assert.strictEqual(error._tag, "ConsentRequired")
      assert.strictEqual(error._tag === "ConsentRequired" ? error.disposition : undefined, "reauthenticate")
      assert.isTrue(Option.isSome(yield* store.get("alice")), "consent is not a dead grant")
    }))

  it.scoped("interaction_required (with its suberror) and MFA (AADSTS50076) are InteractionRequired", () =>
    Effect.gen(function*() {
      const { endpoint, login, server } = yield* setup
      const { token } = yield* login()
      yield* server.failNext(1, {
        status: 400,
        body: { error: "interaction_required", suberror: "basic_action", error_description: "AADSTS50079: ..." }
      })
      const first = yield* Effect.flip(endpoint.refresh(token))
      assert.strictEqual(first._tag, "InteractionRequired")
      assert.strictEqual(first._tag === "InteractionRequired" ? first.suberror : undefined, "basic_action")
      yield* server.failNext(1, {
        status: 400,
        body: { error: "invalid_grant", error_description: "AADSTS50076: Due to a configuration change ..." }
      })
      assert.strictEqual((yield* Effect.flip(endpoint.refresh(token)))._tag, "InteractionRequired")
    }))

  it.scoped("429 with Retry-After: the valid token is served and the refresh waits as asked", () =>
    Effect.gen(function*() {
      const { login, manager, server, events } = yield* setup
      const { token } = yield* login()
      yield* manager.set("alice", token)
      yield* server.failNext(1, { status: 429, headers: { "retry-after": "120" } })
      yield* TestClock.adjust("55 minutes")
      assert.strictEqual(access(yield* manager.get("alice")), access(token))
      const failed = (yield* Effect.map(events.takeAll, (all) => [...all])).find((e) => e._tag === "RefreshFailed")
      assert.strictEqual(failed?._tag === "RefreshFailed" ? failed.error : undefined, "RateLimited")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(access(yield* manager.get("alice")), access(token), "not before the 2 minutes asked")
      yield* TestClock.adjust("1 minute")
      assert.notStrictEqual(access(yield* manager.get("alice")), access(token))
    }))

  it.scoped("a claims challenge from the resource is InsufficientClaims, never a refresh; its claims go to a new login", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, server } = yield* setup
      const { token } = yield* login()
      yield* manager.set("alice", token)
      const claims = `{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}`
      yield* server.failNext(1, {
        endpoint: "resource",
        status: 401,
        headers: {
          "www-authenticate": `Bearer realm="", authorization_uri="${server.issuer}/oauth2/v2.0/authorize", ` +
            `error="insufficient_claims", claims="${btoa(claims)}"`
        }
      })
      const client = AuthorizedClient.authorize(server.httpClient, manager, {
        key: "alice",
        origin: new URL(server.resourceUrl).origin
      })
      const error = yield* Effect.flip(client.get(server.resourceUrl))
      assert.strictEqual(error._tag, "InsufficientClaims")
      if (error._tag !== "InsufficientClaims") return
      assert.strictEqual(error.claims, claims)
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token ?? 0, 0, "no refresh")
      // The same token still works once the resource is satisfied.
      assert.strictEqual((yield* client.get(server.resourceUrl)).status, 200)

      const request = yield* endpoint.authorizationUrl({
        redirectUri: "https://app.test/callback",
        extra: { claims: error.claims! }
      })
      assert.strictEqual(new URL(request.url).searchParams.get("claims"), claims)
      assert.strictEqual(
        new URL(request.url).searchParams.get("scope"),
        "openid https://graph.test/.default offline_access"
      )
      const callback = yield* server.authorize(request.url)
      const url = new URL("https://app.test/callback")
      url.searchParams.set("code", callback.code)
      url.searchParams.set("state", callback.state ?? "")
      const fresh = yield* endpoint.exchangeCode(request, url)
      assert.notStrictEqual(access(fresh), access(token))
    }))
})
