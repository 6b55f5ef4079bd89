import { assert, describe, it } from "@effect/vitest"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ClientCredentials from "../src/client-credentials.js"
import * as Demo from "../src/demo.js"
import * as DeviceFlow from "../src/device-flow.js"
import * as Fleet from "../src/fleet-postgres.js"
import * as LoopbackLogin from "../src/loopback-login.js"
import * as MultiTenant from "../src/multi-tenant-server.js"
import { program as tokenBasics } from "../src/token-basics.js"

// Runs a program with Console.log captured, line by line.
const capture = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const console = yield* Console.consoleWith(Effect.succeed)
    const capturing: Console.Console = {
      ...console,
      log: (...args) => Effect.sync(() => lines.push(...args.map(String).join(" ").split("\n")))
    }
    yield* Effect.withConsole(self, capturing)
    return lines
  })

// oidc-provider's opaque tokens and codes are long base64url runs; the output must hold none.
const secretLike = /[A-Za-z0-9_-]{40,}/

describe("examples", () => {
  it.effect("token basics reads a lenient response, keeps the refresh token, types errors", () =>
    Effect.gen(function*() {
      const lines = yield* capture(tokenBasics)
      assert.include(lines, "token type: Bearer, scopes: api:read, api:write")
      assert.include(lines, "access token prints as: <redacted>")
      assert.include(lines, "after rotation the refresh token is kept: true")
      assert.isTrue(lines.some((line) => line.startsWith("InvalidGrant -> reauthenticate")))
      assert.isTrue(lines.some((line) => line.startsWith("MalformedResponse: access_token")))
      assert.isFalse(lines.some((line) => line.includes("an-access-token") || line.includes("a-refresh-token")))
    }))

  it.live(
    "the demo shows every promise against the embedded server, under 60 s, printing no secret",
    () =>
      Effect.gen(function*() {
        let result: Effect.Effect.Success<typeof Demo.main> | undefined
        const lines = yield* capture(Effect.tap(Demo.main, (done) => {
          result = done
        }))
        const has = (pattern: RegExp) => assert.isTrue(lines.some((line) => pattern.test(line)), String(pattern))
        has(/^\[ +\d+\.\d\d s\] +redirect_uri http:\/\/127\.0\.0\.1:\d+\/callback, code_challenge_method S256$/)
        has(/access token: <redacted>, refresh token: <redacted>$/)
        has(/stored AES-256-GCM encrypted: file mode 600, directory 700, token readable in the file: false$/)
        has(/GET \/resource -> 200$/)
        has(/the token is still valid for \d\.\d s; the next use refreshes it$/)
        has(/manager: the refresh token rotated/)
        has(/200 x 200 OK, 1 refresh between them$/)
        has(/GET -> 200 after 1 x 401, 1 refresh, 1 retry$/)
        has(/1 x 429 \(Retry-After: 2\), waited [2-9]\.\d s, then refreshed/)
        has(/ReconnectRequired: Reconnect required for "alice"/)
        has(/next step: send alice through the login again/)
        has(/the dead grant is gone from the store: true$/)
        // The summary comes from tokenfx's metrics, and the wire tap agrees with every number.
        has(/^What tokenfx's metrics counted \(client "demo"\)$/)
        has(/^\| token requests +\| +7 \(success 5, invalid_grant 1, rate_limited 1\) \|$/)
        has(/^\| refreshes +\| +4 \|$/)
        has(/^\| resource 401 answers +\| +2 \|$/)
        has(/^\| rate-limit waits +\| +1 \(refresh 1\) \|$/)
        has(/^\| reconnects required +\| +1 \(invalid_grant 1\) \|$/)
        has(/^\| keys held, by state +\| +dead 1 \|$/)
        has(
          /^The wire tap agrees: 7 token endpoint calls \(4 refreshed\), 2 x 401 from the API, 1 x 429 then [2-9]\.\d s waited, \d+ API calls \(1 retried\)$/
        )
        assert.deepStrictEqual(result?.disagreements, [])
        assert.strictEqual(result?.summary.refreshes, result?.wire.refreshed)
        assert.strictEqual(result?.summary.requests, result?.wire.tokenCalls)
        assert.strictEqual(result?.summary.refreshRequests, 6)
        const wall = lines.map((line) => /^\| wall time +\| +(\d+\.\d) s \|$/.exec(line)?.[1]).find((x) => x)
        assert.isBelow(Number(wall), 60)
        assert.isFalse(lines.some((line) => line.startsWith("Skipped")))
        assert.deepStrictEqual(lines.filter((line) => !/^[+-]+$/.test(line) && secretLike.test(line)), [])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    90_000
  )

  it.live(
    "against a provider of yours (discovery, no fault switches) it skips what needs the embedded server",
    () =>
      Effect.gen(function*() {
        const lines = yield* Effect.scoped(Effect.gen(function*() {
          const server = yield* OidcProvider.make({ accessTokenTtl: 60 })
          // What OAUTH_ISSUER, OAUTH_CLIENT_ID and OAUTH_API_URL configure, the browser scripted.
          const configured = yield* Demo.external.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(
              new Map([
                ["OAUTH_ISSUER", server.issuer],
                ["OAUTH_CLIENT_ID", server.clients.native.clientId],
                ["OAUTH_SCOPE", "openid offline_access api:read"],
                ["OAUTH_API_URL", server.resourceUrl]
              ])
            ))
          )
          const target = { ...configured, openBrowser: LoopbackLogin.scriptedBrowser(server) }
          return yield* capture(Effect.provide(Demo.program(target), Demo.layer(target)))
        }))
        const has = (pattern: RegExp) => assert.isTrue(lines.some((line) => pattern.test(line)), String(pattern))
        has(/\(discovered\)$/)
        has(/forced: a real provider's token lives too long/)
        has(/200 x 200 OK, 1 refresh between them$/)
        assert.strictEqual(lines.filter((line) => line.endsWith("skipped: needs the embedded server")).length, 2)
        has(/ReconnectRequired/)
        has(/^Skipped or forced: 3 .*; 5 .*; 6 /)
        // A second run in the same process counts only its own requests.
        has(/^The wire tap agrees: /)
        assert.deepStrictEqual(lines.filter((line) => !/^[+-]+$/.test(line) && secretLike.test(line)), [])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    90_000
  )

  it.live(
    "client credentials between services: one grant for concurrent calls, a new one after expiry",
    () =>
      Effect.gen(function*() {
        const lines = yield* capture(
          Effect.scoped(Effect.provide(ClientCredentials.program, ClientCredentials.MainLive))
        )
        assert.include(lines, "10 calls as tokenfx-basic (scope api:read)")
        assert.include(lines, "after the token expired, one more call; client_credentials grants: 2")
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    60_000
  )

  it.live("code + PKCE through a loopback redirect listener", () =>
    Effect.gen(function*() {
      const lines = yield* capture(Effect.scoped(Effect.provide(LoopbackLogin.program, LoopbackLogin.MainLive)))
      assert.isTrue(lines.some((line) => /redirect to http:\/\/127\.0\.0\.1:\d+\/callback\)$/.test(line)))
      assert.include(lines, "Logged in: Bearer token, scopes openid api:read")
      assert.include(lines, "refresh token: yes, printed: <redacted>")
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)), 60_000)

  it.live("the device flow, approved by the user, stored 0600", () =>
    Effect.gen(function*() {
      const lines = yield* capture(Effect.scoped(Effect.provide(DeviceFlow.program, DeviceFlow.MainLive)))
      assert.isTrue(lines.some((line) => /^Open http:\/\/127\.0\.0\.1:\d+\/device and enter the code \S+$/.test(line)))
      assert.include(lines, "Approved: Bearer token, scopes openid offline_access api:read, refresh token: yes")
      assert.include(lines, "stored in key-cli-user.json, mode 600")
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)), 60_000)

  it.live(
    "a multi-tenant server: tokens encrypted in SQLite per user, reconnect when a grant dies",
    () =>
      Effect.gen(function*() {
        const lines = yield* capture(Effect.scoped(Effect.provide(MultiTenant.program, MultiTenant.MainLive)))
        assert.deepStrictEqual(lines.slice(0, 4), [
          "connected alice",
          "connected bob",
          "alice: 200 {\"sub\":\"alice\",\"client_id\":\"tokenfx-native\",\"scope\":\"openid api:read\"}",
          "bob: 200 {\"sub\":\"bob\",\"client_id\":\"tokenfx-native\",\"scope\":\"openid api:read\"}"
        ])
        assert.include(lines, "SQLite rows: alice, bob; readable JSON in them: false")
        assert.include(lines, "bob: 401 {\"error\":\"reconnect\",\"connect\":\"/connect?user=bob\"}")
        assert.strictEqual(lines.at(-1), lines[2])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    60_000
  )

  it.live(
    "a fleet of processes sharing PostgreSQL: one refresh per expiry between them, no reuse",
    () =>
      Effect.gen(function*() {
        const result = yield* Fleet.program.pipe(Effect.provide(Fleet.MainLive), Effect.scoped)
        assert.strictEqual(result.reports.length, 3)
        for (const report of result.reports) {
          assert.isAbove(report.ok, 10)
          assert.strictEqual(report.failed, 0)
        }
        assert.strictEqual(result.invalidGrants, 0)
        assert.isAtLeast(result.refreshes, 1)
        // 3-second tokens refreshed in their last quarter, a second early: at most one per 1.25 s.
        assert.isAtMost(result.refreshes, Math.floor(result.elapsed / 1.25) + 1)
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    120_000
  )
})
