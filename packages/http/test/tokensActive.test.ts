/**
 * The `tokenfx_tokens_active` gauge's transitions, at the level of one manager's states: each key
 * holds at most one transition to come, however often its token changes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as keyState from "../src/internal/keyState.js"
import * as tokensActive from "../src/internal/tokensActive.js"

class State extends keyState.KeyState {
  commit(): Effect.Effect<Token.Token> {
    return Effect.dieMessage("not asked for in these tests")
  }
}

const timing: keyState.Timing = { policy: Expiry.defaultPolicy, requiresRefreshToken: false }
const states = ["fresh", "refresh_window", "expired", "dead"] as const

const active = (client: string) =>
  Effect.map(
    Effect.forEach(states, (state) =>
      Metric.value(Metric.taggedWithLabels(Telemetry.tokensActive, [
        Telemetry.clientLabel(client),
        MetricLabel.make("state", state)
      ]))),
    (values) => Object.fromEntries(states.map((state, i) => [state, values[i]!.value]))
  )

// A token of `seconds`' lifetime, issued now.
const token = (seconds: number) =>
  Token.make({ access_token: Redacted.make(`at-${seconds}`), token_type: "Bearer", expires_in: seconds }, 0)

describe("tokensActive", () => {
  it.scoped("a key whose token changes a thousand times holds one transition to come, and is counted once", () =>
    Effect.gen(function*() {
      const client = "tokens-active-unit"
      const alice = new State("alice")
      const gauge = yield* tokensActive.make(Telemetry.clientLabel(client), timing, () => [alice])
      // Each token lives a little longer than the last, so each has transitions of its own instants.
      for (let i = 0; i < 1_000; i++) {
        keyState.install(alice, { token: token(3_600 + i), version: i + 1 }, timing)
        gauge.follow(alice)
      }
      assert.strictEqual(gauge.pending(), 1)
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 0 })
      // The last token's instants, not an earlier one's, move the key.
      const last = token(3_600 + 999)
      const due = keyState.dueAt(last, timing)
      yield* TestClock.adjust(due - 1)
      assert.deepStrictEqual(yield* active(client), { fresh: 1, refresh_window: 0, expired: 0, dead: 0 })
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 1, expired: 0, dead: 0 })
      assert.strictEqual(gauge.pending(), 1)
      yield* TestClock.adjust(keyState.expiredAt(last, timing) - due)
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 1, dead: 0 })
      // Expired, it changes no more on its own: nothing left to come.
      assert.strictEqual(gauge.pending(), 0)
    }))

  it.scoped("a dropped key leaves the gauge and its transitions at once", () =>
    Effect.gen(function*() {
      const client = "tokens-active-drop"
      const keys = Array.from({ length: 50 }, (_, i) => new State(`user-${i}`))
      const gauge = yield* tokensActive.make(Telemetry.clientLabel(client), timing, () => keys)
      for (const [i, state] of keys.entries()) {
        keyState.install(state, { token: token(60 + i), version: 1 }, timing)
        gauge.follow(state)
      }
      assert.strictEqual(gauge.pending(), 50)
      for (const state of keys.slice(0, 30)) gauge.drop(state)
      assert.strictEqual(gauge.pending(), 20)
      assert.deepStrictEqual(yield* active(client), { fresh: 20, refresh_window: 0, expired: 0, dead: 0 })
      // The rest still move with time, each at its own instants.
      yield* TestClock.adjust("2 hours")
      assert.deepStrictEqual(yield* active(client), { fresh: 0, refresh_window: 0, expired: 20, dead: 0 })
      assert.strictEqual(gauge.pending(), 0)
    }))
})
