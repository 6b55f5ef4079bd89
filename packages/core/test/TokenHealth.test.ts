import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as TokenHealth from "@tokenfx/core/TokenHealth"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { tokenAt } from "./utils/fixtures.js"

const T0 = 1_700_000_000_000
const refreshToken = Redacted.make("refresh")

// A one-hour token refreshes at 55 minutes (the default policy).
const hour = tokenAt(T0, 3600, { refresh_token: refreshToken })

const stateNow = (token: Parameters<typeof TokenHealth.classify>[0], options?: TokenHealth.Options) =>
  Effect.map(Clock.currentTimeMillis, (now) => TokenHealth.classify(token, now, options))

describe("TokenHealth", () => {
  it.effect("a token moves fresh -> refresh_window -> expired as the clock passes its refresh instant and expiry", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0)
      assert.strictEqual(yield* stateNow(hour), "fresh")
      yield* TestClock.adjust("55 minutes")
      assert.strictEqual(yield* stateNow(hour), "refresh_window")
      yield* TestClock.adjust("4 minutes")
      assert.strictEqual(yield* stateNow(hour), "refresh_window")
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* stateNow(hour), "expired")
    }))

  it.effect("expired with no refresh token, or an expired one, is dead; unless the grant needs none", () =>
    Effect.gen(function*() {
      const none = tokenAt(T0, 3600)
      const ending = tokenAt(T0, 3600, { refresh_token: refreshToken, refresh_token_expires_in: 1800 })
      yield* TestClock.setTime(T0 + 3600_000)
      assert.strictEqual(yield* stateNow(none), "dead")
      assert.strictEqual(yield* stateNow(ending), "dead")
      assert.strictEqual(yield* stateNow(none, { requiresRefreshToken: false }), "expired")
      // Before expiry a token that cannot be refreshed is served to the end: no refresh window.
      yield* TestClock.setTime(T0 + 3599_000)
      assert.strictEqual(yield* stateNow(none), "fresh")
      assert.strictEqual(yield* stateNow(ending), "fresh")
      assert.strictEqual(yield* stateNow(none, { requiresRefreshToken: false }), "refresh_window")
    }))

  it.effect("a token with no expiry is always fresh; the skew brings expiry forward", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(T0 + 10 * 365 * 86_400_000)
      assert.strictEqual(yield* stateNow(tokenAt(T0, undefined)), "fresh")
      const policy = Expiry.policy({ skew: "30 seconds" })
      yield* TestClock.setTime(T0 + 3570_000)
      assert.strictEqual(yield* stateNow(hour, { policy }), "expired")
      assert.strictEqual(yield* stateNow(hour), "refresh_window")
    }))

  it.prop(
    "agrees with Expiry: refresh_window exactly when a refresh is needed and it has not expired",
    [FastCheck.integer({ min: 1, max: 86_400 }), FastCheck.integer({ min: 0, max: 100_000_000 })],
    ([lifetime, offset]) => {
      const token = tokenAt(T0, lifetime, { refresh_token: refreshToken })
      const state = TokenHealth.classify(token, T0 + offset)
      const refreshAt = Expiry.refreshAt(token)!.epochMillis
      const expected = T0 + offset >= T0 + lifetime * 1000
        ? "expired"
        : T0 + offset >= refreshAt
        ? "refresh_window"
        : "fresh"
      assert.strictEqual(state, expected)
    }
  )

  it("classifyExpiry: what a store can tell from the expiry it keeps in the clear", () => {
    assert.strictEqual(TokenHealth.classifyExpiry(undefined, T0, "5 minutes"), "fresh")
    assert.strictEqual(TokenHealth.classifyExpiry(T0 + 300_001, T0, "5 minutes"), "fresh")
    assert.strictEqual(TokenHealth.classifyExpiry(T0 + 300_000, T0, "5 minutes"), "refresh_window")
    assert.strictEqual(TokenHealth.classifyExpiry(T0 + 1, T0, "5 minutes"), "refresh_window")
    assert.strictEqual(TokenHealth.classifyExpiry(T0, T0, "5 minutes"), "expired")
  })
})
