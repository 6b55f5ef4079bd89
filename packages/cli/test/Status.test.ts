/**
 * `tokenfx status` judged on a TestClock: the states are `TokenHealth.classify`'s (the gauge's vocabulary),
 * read from a real token file in a temporary config directory, and no token is ever in the report.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Profile from "@tokenfx/cli/Profile"
import * as Status from "@tokenfx/cli/Status"
import * as Token from "@tokenfx/core/Token"
import * as TokenHealth from "@tokenfx/core/TokenHealth"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const T0 = 1_700_000_000_000
const secret = "at-0123456789abcdef"

// A config directory of its own, with the profiles `default` (logged in) and `idle` (never logged in).
const withConfig = <A, E, R>(self: (tokens: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-status-"))),
    (dir) =>
      Effect.gen(function*() {
        yield* Profile.save({
          profiles: {
            default: new Profile.Profile({ clientId: "cli", tokenEndpoint: "https://auth.example.com/token" }),
            idle: new Profile.Profile({ clientId: "cli", tokenEndpoint: "https://auth.example.com/token" })
          }
        })
        return yield* self(Path.join(dir, "tokens"))
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TOKENFX_CONFIG_DIR", dir]])))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.provide(NodeContext.layer))

const store = (tokens: string, token: Token.Token) =>
  Effect.flatMap(TokenStore.TokenStore, (s) => s.set("default", token)).pipe(
    Effect.provide(FileTokenStore.layerFileSystem(tokens))
  )

// One hour, refreshed at 55 minutes; its refresh token lives two hours.
const token = Token.make({
  access_token: Redacted.make(secret),
  refresh_token: Redacted.make(`rt-${secret}`),
  expires_in: 3600,
  refresh_token_expires_in: 7200,
  scope: "openid api:read"
}, T0)

const stateOf = (status: Status.Status, name: string) => status.profiles.find((p) => p.name === name)!

describe("Status", () => {
  it.effect("each profile's state moves fresh -> refresh_window -> expired -> dead with the clock, as TokenHealth says", () =>
    withConfig((tokens) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        yield* store(tokens, token)
        const states: Array<string> = []
        for (const at of [0, 56 * 60, 61 * 60, 121 * 60]) {
          yield* TestClock.setTime(T0 + at * 1000)
          const status = yield* Status.read(undefined)
          const profile = stateOf(status, "default")
          assert.strictEqual(profile.state, TokenHealth.classify(token, T0 + at * 1000, { policy: Status.policy }))
          states.push(profile.state)
          assert.strictEqual(stateOf(status, "idle").state, "missing")
          const text = Status.format(status)
          const json = JSON.stringify(status)
          assert.notInclude(text, secret)
          assert.notInclude(json, secret)
        }
        assert.deepStrictEqual(states, ["fresh", "refresh_window", "expired", "dead"])
      })
    ))

  it.effect("reports the refresh instant, the refresh token's horizon and the store version; a table row per profile", () =>
    withConfig((tokens) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(T0)
        yield* store(tokens, token)
        const status = yield* Status.read(undefined)
        const profile = stateOf(status, "default")
        assert.strictEqual(profile.refreshDueAt, new Date(T0 + 55 * 60_000).toISOString())
        assert.strictEqual(profile.expiresInSeconds, 3600)
        assert.strictEqual(profile.refreshTokenExpiresInSeconds, 7200)
        assert.strictEqual(profile.version, 1)
        assert.strictEqual(profile.problem, null)
        const lines = Status.format(status).split("\n")
        assert.match(lines[0]!, /^PROFILE +STATE +ACCESS TOKEN +REFRESH TOKEN$/)
        assert.match(lines[1]!, /^default \* +fresh +in 1h +in 2h$/)
        assert.match(lines[2]!, /^idle +missing +- +-$/)
        assert.include(lines, "  state:         fresh")
        assert.include(lines, `  refresh due:   ${profile.refreshDueAt}`)
        assert.deepStrictEqual(status.stored, { total: 1, fresh: 1, refresh_window: 0, expired: 0 })
        assert.include(lines, "stored: 1 tokens (1 fresh, 0 refresh_window, 0 expired)")

        yield* TestClock.setTime(T0 + 121 * 60_000)
        const dead = stateOf(yield* Status.read("default"), "default")
        assert.strictEqual(dead.state, "dead")
        assert.strictEqual(dead.refreshTokenExpiresInSeconds, -60)
        assert.include(dead.problem ?? "", "cannot be refreshed")
        assert.deepStrictEqual((yield* Status.read(undefined)).stored, {
          total: 1,
          fresh: 0,
          refresh_window: 0,
          expired: 1
        })
      })
    ))
})
