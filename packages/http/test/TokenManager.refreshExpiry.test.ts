import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"

// A server whose refresh tokens live `refreshTokenTtl` and say so (`refresh_token_expires_in`).
const setup = (options: AuthorizationServer.Options, manager?: TokenManager.Options) =>
  Effect.gen(function*() {
    const server = yield* AuthorizationServer.make(options)
    const endpoint = yield* TokenEndpoint.make({
      tokenEndpoint: server.tokenEndpoint,
      clientId: "client",
      clientSecret: Redacted.make("secret")
    }).pipe(Effect.provideService(HttpClient.HttpClient, server.httpClient))
    const tokens = yield* TokenManager.make(manager).pipe(
      Effect.provideService(TokenStore.TokenStore, yield* TokenStore.makeMemory),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    )
    const events = yield* tokens.subscribe
    const taken = Effect.map(Queue.takeAll(events), Chunk.toReadonlyArray)
    const refreshes = Effect.map(server.stats, (stats) => stats.tokenRequests.refresh_token ?? 0)
    return { server, manager: tokens, taken, refreshes }
  })

const expiringOf = (client: string) =>
  Effect.map(
    Metric.value(Metric.taggedWithLabels(Telemetry.refreshTokensExpiring, [Telemetry.clientLabel(client)])),
    (gauge) => gauge.value
  )

describe("TokenManager: refresh token expiry", () => {
  it.scoped("a refresh token that dies before the refresh instant: the access token is served, then ReconnectRequired, never a call", () =>
    Effect.gen(function*() {
      const { manager, refreshes, server, taken } = yield* setup({
        accessTokenTtl: "1 hour",
        refreshTokenTtl: "30 minutes"
      })
      const token = yield* server.issueToken()
      assert.strictEqual(DateTime.toEpochMillis(token.refreshTokenExpiresAt!), 30 * 60_000)
      yield* manager.set("alice", token)
      yield* TestClock.adjust("59 minutes")
      assert.strictEqual(Redacted.value((yield* manager.get("alice")).accessToken), Redacted.value(token.accessToken))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
      assert.strictEqual(yield* refreshes, 0)
      const tags = (yield* taken).map((event) => event._tag)
      assert.deepStrictEqual(tags, ["ReconnectSoon", "ReconnectRequired"])
    }))

  it.scoped("ReconnectSoon comes `reconnectWarning` ahead, once, and a refresh that renews the refresh token cancels it", () =>
    Effect.gen(function*() {
      const { manager, server, taken } = yield* setup(
        { accessTokenTtl: "1 hour", refreshTokenTtl: "7 days" },
        { reconnectWarning: "1 day" }
      )
      yield* manager.set("alice", yield* server.issueToken())
      // Refreshed (and the refresh token renewed) every hour while in use: no warning.
      for (let hour = 0; hour < 10; hour++) {
        yield* TestClock.adjust("1 hour")
        yield* manager.get("alice")
      }
      assert.notInclude((yield* taken).map((event) => event._tag), "ReconnectSoon")
      // Idle from now on: the last refresh token expires 7 days after the last refresh.
      yield* TestClock.adjust("5 days")
      assert.deepStrictEqual(yield* taken, [])
      yield* TestClock.adjust("1 day")
      const soon = yield* taken
      assert.deepStrictEqual(soon.map((event) => event._tag), ["ReconnectSoon"])
      const event = soon[0]!
      assert.strictEqual(
        event._tag === "ReconnectSoon" ? DateTime.toEpochMillis(event.refreshTokenExpiresAt) : 0,
        10 * 3_600_000 + 7 * 86_400_000
      )
    }))

  it.effect("refresh_expires_in (Keycloak) sets the refresh token's expiry; 0 means none", () =>
    Effect.gen(function*() {
      const decode = Schema.decodeUnknownSync(Token.TokenResponse)
      const dies = Token.make(decode({ access_token: "at", refresh_token: "rt", refresh_expires_in: 1800 }), 0)
      assert.strictEqual(DateTime.toEpochMillis(dies.refreshTokenExpiresAt!), 1_800_000)
      const offline = Token.make(decode({ access_token: "at", refresh_token: "rt", refresh_expires_in: 0 }), 0)
      assert.isUndefined(offline.refreshTokenExpiresAt)
      // The storage codec keeps it.
      assert.isTrue(
        Token.Equivalence(
          StoredToken.fromJson(StoredToken.toJson(dies)).pipe((e) => e._tag === "Right" ? e.right : offline),
          dies
        )
      )
    }))

  it.scoped("released keys are still warned, once, counted until their refresh token expires, with no fiber per key", () =>
    Effect.gen(function*() {
      const client = "expiring-released"
      const { manager, server, taken } = yield* setup(
        { accessTokenTtl: "1 hour", refreshTokenTtl: "7 days" },
        { reconnectWarning: "1 day", idleTimeToLive: "1 hour", clientLabel: client }
      )
      const tracker = yield* Supervisor.track
      for (let i = 0; i < 100; i++) {
        const key = `user-${i}`
        yield* manager.set(key, yield* server.issueToken({ subject: key })).pipe(Effect.supervised(tracker))
      }
      assert.strictEqual((yield* tracker.value).length, 0)
      yield* TestClock.adjust("61 minutes")
      assert.deepStrictEqual(yield* manager.keys, [])
      // Idle users are the ones to ask to reconnect: warned on day 6, each once.
      yield* TestClock.adjust("6 days")
      const warned = (yield* taken).flatMap((event) => event._tag === "ReconnectSoon" ? [event.key] : [])
      assert.deepStrictEqual(warned.sort(), Array.from({ length: 100 }, (_, i) => `user-${i}`).sort())
      assert.strictEqual(yield* expiringOf(client), 100)
      yield* TestClock.adjust("1 day")
      assert.strictEqual(yield* expiringOf(client), 0)
      assert.deepStrictEqual(yield* taken, [])
    }))

  it.scoped("tokenfx_refresh_tokens_expiring: a warned key counts until its refresh token expires or is replaced, held or not", () =>
    Effect.gen(function*() {
      const client = "expiring-release"
      const { manager, server, taken } = yield* setup(
        { accessTokenTtl: "1 hour", refreshTokenTtl: "2 hours" },
        { reconnectWarning: "30 minutes", idleTimeToLive: "100 minutes", clientLabel: client }
      )
      const expiring = expiringOf(client)
      const warnings = Effect.map(taken, (events) => events.filter((event) => event._tag === "ReconnectSoon").length)
      yield* manager.set("alice", yield* server.issueToken())
      // Warned at 90 minutes, released by the sweep at 100, its refresh token expired at 120.
      yield* TestClock.adjust("90 minutes")
      assert.strictEqual(yield* expiring, 1)
      assert.strictEqual(yield* warnings, 1)
      yield* TestClock.adjust("10 minutes")
      assert.deepStrictEqual(yield* manager.keys, [])
      assert.strictEqual(yield* expiring, 1)
      yield* TestClock.adjust("20 minutes")
      assert.strictEqual(yield* expiring, 0)
      // A new login (refresh token until 240 minutes): warned at 210, replaced at 215.
      yield* manager.set("alice", yield* server.issueToken())
      yield* TestClock.adjust("89 minutes")
      assert.strictEqual(yield* expiring, 0)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* expiring, 1)
      assert.strictEqual(yield* warnings, 1)
      yield* TestClock.adjust("5 minutes")
      yield* manager.set("alice", yield* server.issueToken())
      assert.strictEqual(yield* expiring, 0)
    }))
})
