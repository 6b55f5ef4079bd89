import { assert, describe, it } from "@effect/vitest"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Demo from "../src/demo.js"
import { scriptedBrowser } from "../src/loopback-login.js"
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
        const lines = yield* capture(Demo.main)
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
        has(/^\| token endpoint calls +\| +7 \|$/)
        has(/^\| refreshes \(requests sent\) +\| +4 \(6\) \|$/)
        has(/^\| retries after a 401 +\| +1 \|$/)
        has(/^\| waits after a 429 +\| +1 \([2-9]\.\d s\) \|$/)
        const wall = lines.map((line) => /^\| wall time +\| +(\d+\.\d) s \|$/.exec(line)?.[1]).find((x) => x)
        assert.isBelow(Number(wall), 60)
        assert.isFalse(lines.some((line) => line.startsWith("Skipped")))
        assert.deepStrictEqual(lines.filter((line) => secretLike.test(line)), [])
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
          const target = { ...configured, openBrowser: scriptedBrowser(server) }
          return yield* capture(Effect.provide(Demo.program(target), Demo.layer(target)))
        }))
        const has = (pattern: RegExp) => assert.isTrue(lines.some((line) => pattern.test(line)), String(pattern))
        has(/\(discovered\)$/)
        has(/forced: a real provider's token lives too long/)
        has(/200 x 200 OK, 1 refresh between them$/)
        assert.strictEqual(lines.filter((line) => line.endsWith("skipped: needs the embedded server")).length, 2)
        has(/ReconnectRequired/)
        has(/^Skipped or forced: 3 .*; 5 .*; 6 /)
        assert.deepStrictEqual(lines.filter((line) => secretLike.test(line)), [])
      }).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
    90_000
  )
})
