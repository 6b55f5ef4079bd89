import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
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

describe("Login.run", () => {
  // A config directory of its own, removed afterwards.
  const inConfigDir = <A, E, R>(self: (dir: string) => Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-login-"))),
      (dir) => Effect.withConfigProvider(self(dir), ConfigProvider.fromMap(new Map([["TOKENFX_CONFIG_DIR", dir]]))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )

  it.effect("keeps the profiles other logins saved while it waited for approval", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const server = yield* AuthorizationServer.AuthorizationServer
        const profile = new Profile.Profile({
          clientId: AuthorizationServer.publicClient.clientId,
          tokenEndpoint: server.tokenEndpoint,
          deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint
        })
        yield* Profile.save({ profiles: { work: profile } })
        const shown = yield* Deferred.make<string>()
        const console = yield* Console.consoleWith(Effect.succeed)
        const fiber = yield* Effect.fork(Effect.withConsole(Login.run({ profile: "work", flow: "device" }), {
          ...console,
          error: (...args) => {
            const code = /one-time code: (\S+)/.exec(args.map(String).join(" "))?.[1]
            return code === undefined ? Effect.void : Deferred.succeed(shown, code)
          }
        }))
        const userCode = yield* Deferred.await(shown)

        // Meanwhile `tokenfx login --profile home` (another process) saves its profile, as the default.
        const current = yield* Profile.load
        yield* Profile.save({ defaultProfile: "home", profiles: { ...current.profiles, home: profile } })
        yield* server.approveDevice(userCode)
        // The poll's wait is registered once the login fiber yields after showing the code.
        while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)

        const after = yield* Profile.load
        assert.deepStrictEqual(Object.keys(after.profiles).sort(), ["home", "work"])
        assert.strictEqual(after.defaultProfile, "home")
        assert.deepStrictEqual(Fs.readdirSync(dir).sort(), ["config.json", "tokens"])
      })
    ).pipe(
      Effect.provide(Layer.merge(AuthorizationServer.layer({ deviceInterval: "5 seconds" }), NodeContext.layer))
    ))
})
