import { assert, describe, it } from "@effect/vitest"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Login from "../src/Login.js"
import * as Profile from "../src/Profile.js"

// Console.error lines, captured.
const capturing = (lines: Array<string>) =>
  Effect.map(Console.consoleWith(Effect.succeed), (console): Console.Console => ({
    ...console,
    error: (...args) => Effect.sync(() => lines.push(args.map(String).join(" ")))
  }))

const Live = Layer.unwrapEffect(Effect.map(AuthorizationServer.AuthorizationServer, (server) =>
  TokenEndpoint.layer({
    tokenEndpoint: server.tokenEndpoint,
    deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint,
    clientId: AuthorizationServer.publicClient.clientId
  }))).pipe(Layer.provideMerge(AuthorizationServer.layer({ deviceInterval: "5 seconds" })))

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

describe("Login.device", () => {
  it.effect("shows the code, polls at the server's interval and 5 s slower after slow_down", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const profile = new Profile.Profile({
        clientId: AuthorizationServer.publicClient.clientId,
        tokenEndpoint: server.tokenEndpoint,
        deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint,
        scope: ["api:read"]
      })
      const lines: Array<string> = []
      const console = yield* capturing(lines)
      yield* server.failNext(1, { status: 400, body: { error: "slow_down" } })
      const fiber = yield* Effect.fork(Effect.withConsole(Login.device("default", profile), console))
      const polls = Effect.map(server.stats, (stats) => stats.tokenRequests[deviceGrant] ?? 0)

      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* polls, 1)
      const userCode = lines.map((line) => /one-time code: (\S+)/.exec(line)?.[1]).find((code) => code !== undefined)
      assert.isDefined(userCode)
      assert.isTrue(lines.some((line) => line.startsWith("Then open https://")))
      yield* server.approveDevice(userCode!)

      // After slow_down the interval is 10 s: nothing at 5 s, the token at 10 s.
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* polls, 1)
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* polls, 2)
      const token = yield* Fiber.join(fiber)
      assert.deepStrictEqual(token.scopes, ["api:read"])
    }).pipe(Effect.provide(Live)))

  it.effect("a server without the device flow is a configuration error naming --browser", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const profile = new Profile.Profile({ clientId: "public-client", tokenEndpoint: server.tokenEndpoint })
      const error = yield* Effect.flip(Login.device("work", profile))
      assert.strictEqual(error.kind, "Configuration")
      assert.include(error.message, `run "tokenfx login --profile work --browser"`)
    }).pipe(Effect.provide(Live)))

  it.effect("a denied login fails, saying to log in again", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const profile = new Profile.Profile({
        clientId: AuthorizationServer.publicClient.clientId,
        tokenEndpoint: server.tokenEndpoint,
        deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint
      })
      const lines: Array<string> = []
      const fiber = yield* Effect.fork(Effect.withConsole(Login.device("default", profile), yield* capturing(lines)))
      yield* TestClock.adjust("1 second")
      const userCode = lines.map((line) => /one-time code: (\S+)/.exec(line)?.[1]).find((code) => code !== undefined)
      yield* server.denyDevice(userCode!)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error.kind, "Failure")
      assert.include(error.message, `Next: run "tokenfx login" and approve it.`)
    }).pipe(Effect.provide(Live)))
})
