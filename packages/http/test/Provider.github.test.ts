/**
 * GitHub, against the GitHub dialect of the in-memory server. Behaviours from:
 * - https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
 * - https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens
 * - https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
 * - https://docs.github.com/en/rest/apps/oauth-applications (DELETE /applications/{client_id}/grant)
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as FakeHttp from "./utils/FakeHttp.js"
import { access, client, harness, rateLimitedRefresh, refresh } from "./utils/providerHarness.js"

const setup = harness({
  dialect: Dialect.github,
  issuer: "https://github.test",
  profile: (issuer) => Provider.github({ ...client, baseUrl: issuer, apiUrl: issuer, scope: ["repo", "gist"] }),
  // Expiring user tokens: 8 hours, refresh tokens 6 months (15811200 seconds).
  server: { accessTokenTtl: "28800 seconds", refreshTokenTtl: "15811200 seconds" }
})

describe("Provider.github", () => {
  it.scoped("login, refresh across expiries with rotation, dead grant, disconnect through the REST API", () =>
    Effect.gen(function*() {
      const { endpoint, login, manager, sent, server, tags } = yield* setup
      const { request, token } = yield* login()
      assert.include(request.url, "https://github.test/login/oauth/authorize?")
      // JSON asked for; scopes sent space-delimited, answered comma-separated, read as a list.
      assert.deepStrictEqual(token.scopes, ["repo", "gist"])
      assert.isTrue(sent.every((request) => request.accept?.includes("application/json") === true))
      assert.strictEqual(DateTime.toEpochMillis(token.expiresAt!), 28_800_000)
      assert.strictEqual(DateTime.toEpochMillis(token.refreshTokenExpiresAt!), 15_811_200_000)

      yield* manager.set("alice", token)
      yield* TestClock.adjust("8 hours")
      const second = yield* manager.get("alice")
      assert.notStrictEqual(access(second), access(token))
      assert.notStrictEqual(refresh(second), refresh(token), "GitHub rotates the refresh token")
      assert.deepStrictEqual(yield* tags, ["Refreshed", "Rotated"])

      // A used refresh token: HTTP 200 with `bad_refresh_token`, read as the dead grant it is.
      const reused = yield* Effect.flip(endpoint.refresh(token))
      assert.strictEqual(reused._tag, "InvalidGrant")
      assert.strictEqual(reused.code, "invalid_grant")

      yield* manager.revoke("alice")
      assert.deepStrictEqual(sent.at(-1), {
        method: "DELETE",
        path: "/applications/client/grant",
        accept: "application/vnd.github+json"
      })
      // The whole grant is gone: its refresh token is refused too.
      const gone = yield* Effect.flip(endpoint.refresh(second))
      assert.strictEqual(gone._tag, "InvalidGrant")
      assert.deepStrictEqual(yield* tags, ["Revoked"])
      assert.strictEqual((yield* server.stats).tokensIssued.refresh_token, 1)
    }))

  it.scoped("a dead grant is ReconnectRequired once, and never presented again", () =>
    Effect.gen(function*() {
      const { login, manager, server, tags } = yield* setup
      yield* manager.set("alice", (yield* login()).token)
      yield* server.revokeAll
      yield* TestClock.adjust("8 hours")
      const first = yield* Effect.flip(manager.get("alice"))
      assert.strictEqual(first._tag, "ReconnectRequired")
      const requests = (yield* server.stats).tokenRequests.refresh_token
      const second = yield* Effect.flip(manager.get("alice"))
      assert.strictEqual(second._tag, "ReconnectRequired")
      assert.strictEqual((yield* server.stats).tokenRequests.refresh_token, requests)
      assert.deepStrictEqual((yield* tags).filter((tag) => tag === "ReconnectRequired"), ["ReconnectRequired"])
    }))

  it.scoped("a code used twice is bad_verification_code with HTTP 200: InvalidGrant, not a malformed answer", () =>
    Effect.gen(function*() {
      const { endpoint, server } = yield* setup
      const request = yield* endpoint.authorizationUrl({ redirectUri: "https://app.test/callback" })
      const { code } = yield* server.authorize(request.url)
      const options = { code: Redacted.make(code), verifier: request.verifier, redirectUri: request.redirectUri }
      yield* endpoint.authorizationCode(options)
      const error = yield* Effect.flip(endpoint.authorizationCode(options))
      assert.strictEqual(error._tag, "InvalidGrant")
      assert.strictEqual(error._tag === "InvalidGrant" ? error.status : undefined, 200)
    }))

  it.scoped("answers form-encoded when JSON is not asked for (a proxy rewrote Accept): read all the same", () =>
    Effect.gen(function*() {
      // What came back, seen below the user's middleware, which stands for a proxy dropping the Accept.
      const contentTypes: Array<string | undefined> = []
      const { endpoint, login, sent } = yield* harness({
        dialect: Dialect.github,
        issuer: "https://github.test",
        profile: (issuer) =>
          Provider.github({
            ...client,
            baseUrl: issuer,
            apiUrl: issuer,
            scope: ["repo", "gist"],
            endpoint: {
              transformClient: (http) =>
                http.pipe(
                  HttpClient.mapRequest(HttpClientRequest.setHeader("accept", "*/*")),
                  HttpClient.tap((response) => Effect.sync(() => contentTypes.push(response.headers["content-type"])))
                )
            }
          }),
        server: { accessTokenTtl: "28800 seconds", refreshTokenTtl: "15811200 seconds" }
      })
      const { token } = yield* login()
      assert.isTrue(sent.every((request) => request.accept === "*/*"))
      assert.deepStrictEqual(token.scopes, ["repo", "gist"])
      assert.strictEqual(DateTime.toEpochMillis(token.refreshTokenExpiresAt!), 15_811_200_000)
      const second = yield* endpoint.refresh(token)
      assert.notStrictEqual(refresh(second), refresh(token))
      // The used refresh token: `error=bad_refresh_token` in a form body with HTTP 200.
      const reused = yield* Effect.flip(endpoint.refresh(token))
      assert.strictEqual(reused._tag, "InvalidGrant")
      assert.deepStrictEqual(
        contentTypes,
        Array.from({ length: 3 }, () => "application/x-www-form-urlencoded; charset=utf-8")
      )
    }))

  it.scoped("device flow: slow_down names the new interval, which the poller honours", () =>
    Effect.gen(function*() {
      const { endpoint, sent, server } = yield* setup
      const authorization = yield* endpoint.deviceAuthorization()
      assert.strictEqual(sent.at(-1)?.path, "/login/device/code")
      // Poll every second against a server that asks for five: it answers slow_down, interval 10.
      const poll = yield* Effect.fork(endpoint.pollDeviceToken(authorization, { interval: "1 second" }))
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      yield* server.approveDevice(authorization.userCode)
      const before = (yield* server.stats).tokenRequests["urn:ietf:params:oauth:grant-type:device_code"]
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(
        (yield* server.stats).tokenRequests["urn:ietf:params:oauth:grant-type:device_code"],
        before,
        "no poll before the 10 seconds GitHub named"
      )
      yield* TestClock.adjust(Duration.seconds(1))
      const token = yield* Fiber.join(poll)
      assert.deepStrictEqual(token.scopes, ["repo", "gist"])
    }))
  // GitHub answers form-encoded unless JSON is asked for, and has been seen to do so anyway: the
  // interval then arrives as text ("Authorizing OAuth apps", device flow error codes).
  it.effect("device flow: a form-encoded slow_down's interval, text on the wire, is honoured too", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make((request, index) =>
        request.url.endsWith("/login/device/code")
          ? FakeHttp.json({ device_code: "dc", user_code: "WDJB-MJHT", verification_uri: "https://x", expires_in: 900 })
          : index === 1
          ? {
            status: 200,
            body: "error=slow_down&error_description=Too+many+requests&interval=10",
            headers: { "content-type": "application/x-www-form-urlencoded" }
          }
          : FakeHttp.token()
      )
      const profile = Provider.github({ ...client, baseUrl: "https://github.test", apiUrl: "https://github.test" })
      const endpoint = yield* TokenEndpoint.make(profile.endpoint).pipe(
        Effect.provideService(HttpClient.HttpClient, server.client)
      )
      const fiber = yield* Effect.fork(
        endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization(), { interval: "1 second" })
      )
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(server.requests.map((request) => request.at), [0, 1_000, 11_000])
    }))

  it.scoped("rate limited (429, Retry-After): no retry before the wait, the refresh done after it", () =>
    Effect.gen(function*() {
      const result = yield* rateLimitedRefresh(yield* setup)
      assert.deepStrictEqual(result, { early: 1, late: 2, renewed: true })
    }))
  it.scoped("a disconnect GitHub refuses (wrong client secret: 401) is Failed with InvalidClient, quoting no token", () =>
    Effect.gen(function*() {
      const { manager, server, store } = yield* harness({
        dialect: Dialect.github,
        issuer: "https://github.test",
        profile: (issuer) =>
          Provider.github({ ...client, clientSecret: Redacted.make("wrong"), baseUrl: issuer, apiUrl: issuer })
      })
      // A token issued by the server itself: a login with the wrong secret would fail.
      const token = yield* server.issueToken()
      yield* manager.set("alice", token)
      const revocation = yield* manager.revoke("alice")
      assert.strictEqual(revocation._tag, "Failed")
      if (revocation._tag !== "Failed") return
      assert.strictEqual(revocation.error._tag, "InvalidClient")
      assert.notInclude(revocation.error.message, Redacted.value(token.accessToken))
      // Removed locally whatever GitHub said.
      assert.isTrue((yield* store.get("alice"))._tag === "None")
    }))
})
