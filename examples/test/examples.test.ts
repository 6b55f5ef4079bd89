import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { DemoLive, program as demo } from "../src/demo.js"
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

  it.live("the demo logs in, refreshes through expiries, and ends in ReconnectRequired", () =>
    Effect.gen(function*() {
      const lines = yield* capture(demo.pipe(Effect.scoped, Effect.provide(DemoLive)))
      assert.include(lines, "   stored AES-256-GCM encrypted in 1 file, mode 600")
      assert.strictEqual(lines.filter((line) => line.includes("3 x 200 OK, sub=alice")).length, 4)
      assert.isTrue(lines.some((line) => / [1-9]\d* refreshes, 0 invalid_grant, 12 API calls/.test(line)))
      assert.isTrue(lines.some((line) => line.includes("the next call fails with ReconnectRequired")))
      assert.include(lines, "   the dead grant is gone from the store: true")
      assert.isTrue(lines.some((line) => line.includes("access token: <redacted>, refresh token: <redacted>")))
      assert.deepStrictEqual(lines.filter((line) => secretLike.test(line)), [])
    }).pipe(Logger.withMinimumLogLevel(LogLevel.None)), 60_000)
})
