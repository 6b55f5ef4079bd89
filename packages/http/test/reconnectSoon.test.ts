/**
 * The "reconnect soon" warning at the level of one manager's states: what it keeps of keys that come and
 * go, and what it counts in `tokenfx_refresh_tokens_expiring`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import type * as TokenManagerEvent from "@tokenfx/http/TokenManagerEvent"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as keyState from "../src/internal/keyState.js"
import * as managerMetrics from "../src/internal/managerMetrics.js"
import * as reconnectSoon from "../src/internal/reconnectSoon.js"

class State extends keyState.KeyState {
  commit(): Effect.Effect<Token.Token> {
    return Effect.dieMessage("not asked for in these tests")
  }
}

const timing: keyState.Timing = { policy: Expiry.defaultPolicy, requiresRefreshToken: true }
const hour = 3_600_000

// A one-hour access token issued at `issuedAt` whose refresh token lives `refreshHours`.
const token = (issuedAt: number, refreshHours: number) =>
  Token.make({
    access_token: Redacted.make(`at-${issuedAt}`),
    token_type: "Bearer",
    expires_in: 3_600,
    refresh_token: Redacted.make(`rt-${issuedAt}`),
    refresh_token_expires_in: refreshHours * 3_600
  }, issuedAt)

// A warning one hour ahead, and a way to hold a token in a key's state.
const setup = (client: string) =>
  Effect.gen(function*() {
    const events = yield* PubSub.unbounded<TokenManagerEvent.Event>()
    const subscription = yield* PubSub.subscribe(events)
    const metrics = managerMetrics.make(client)
    const warning = yield* reconnectSoon.make(hour, events, metrics)
    const hold = (key: string, held: Token.Token) =>
      Effect.suspend(() => {
        const state = new State(key)
        keyState.install(state, { token: held, version: 1 }, timing)
        return Effect.as(warning.watch(state), state)
      })
    const warned = Effect.map(
      Queue.takeAll(subscription),
      (taken) => Chunk.toReadonlyArray(taken).flatMap((event) => event._tag === "ReconnectSoon" ? [event.key] : [])
    )
    const expiring = Effect.map(Metric.value(metrics.refreshTokensExpiring), (gauge) => gauge.value)
    return { warning, hold, warned, expiring }
  })

describe("reconnectSoon", () => {
  it.scoped("released keys are warned, then forgotten once their refresh token has expired", () =>
    Effect.gen(function*() {
      const { expiring, hold, warned, warning } = yield* setup("reconnect-soon-released")
      // 1,000 keys whose refresh tokens live 3 hours: warned at 2 h.
      for (let i = 0; i < 1_000; i++) yield* hold(`user-${i}`, token(0, 3))
      assert.strictEqual(warning.size(), 1_000)
      for (let i = 0; i < 1_000; i++) warning.forget(`user-${i}`)
      yield* TestClock.adjust(2 * hour)
      assert.strictEqual((yield* warned).length, 1_000)
      assert.strictEqual(yield* expiring, 1_000)
      assert.strictEqual(warning.size(), 1_000)
      yield* TestClock.adjust(hour)
      assert.strictEqual(yield* expiring, 0)
      assert.strictEqual(warning.size(), 0)
    }))

  it.scoped("a warned key released, then loaded again, is not warned twice nor counted twice", () =>
    Effect.gen(function*() {
      const { expiring, hold, warned, warning } = yield* setup("reconnect-soon-reload")
      yield* hold("alice", token(0, 3))
      yield* TestClock.adjust(2 * hour)
      assert.deepStrictEqual(yield* warned, ["alice"])
      assert.strictEqual(yield* expiring, 1)
      warning.forget("alice")
      yield* hold("alice", token(0, 3))
      assert.strictEqual(yield* expiring, 1)
      assert.deepStrictEqual(yield* warned, [])
      // Held past its refresh token's expiry: still counted, and kept while held.
      yield* TestClock.adjust(2 * hour)
      assert.strictEqual(yield* expiring, 1)
      assert.strictEqual(warning.size(), 1)
      warning.forget("alice")
      assert.strictEqual(yield* expiring, 0)
      assert.strictEqual(warning.size(), 0)
      // In a new process, a refresh token expired already is too late to warn about; it is counted.
      yield* hold("alice", token(0, 3))
      assert.deepStrictEqual(yield* warned, [])
      assert.strictEqual(yield* expiring, 1)
    }))

  it.scoped("a key whose refresh token changes is warned for the new one only", () =>
    Effect.gen(function*() {
      const { hold, warned, warning } = yield* setup("reconnect-soon-renewed")
      yield* hold("alice", token(0, 3))
      // Renewed at 1 h: the refresh token now lives until 4 h, warned at 3 h.
      yield* TestClock.adjust(hour)
      yield* hold("alice", token(hour, 3))
      assert.strictEqual(warning.size(), 1)
      yield* TestClock.adjust(2 * hour - 1)
      assert.deepStrictEqual(yield* warned, [])
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* warned, ["alice"])
    }))
})
