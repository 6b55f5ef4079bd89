import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as expiry from "../src/internal/expiry.js"
import { tokenAt } from "./utils/fixtures.js"

// Tokens are issued away from the epoch so that an instant mistaken for a duration shows.
const T0 = 1_700_000_000_000

const issueAt = (start: number, expiresIn: number | undefined) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(start)
    return yield* Token.fromResponse({
      access_token: Redacted.make("access"),
      ...(expiresIn === undefined ? {} : { expires_in: expiresIn })
    })
  })

const stateAt = (token: Token.Token, at: number, policy?: Expiry.Policy) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(at)
    return {
      needsRefresh: yield* Expiry.needsRefresh(token, policy),
      isExpired: yield* Expiry.isExpired(token, policy),
      timeToRefresh: yield* Expiry.timeToRefresh(token, policy)
    }
  })

const minutes = (n: number) => n * 60_000

describe("Expiry", () => {
  describe("the default refresh window (10% of the lifetime, at most 5 minutes)", () => {
    it.effect.each([
      { label: "60 s", lifetime: 60, refreshAfter: 54_000 },
      { label: "1 h", lifetime: 3600, refreshAfter: minutes(55) },
      { label: "24 h", lifetime: 86_400, refreshAfter: minutes(23 * 60 + 55) }
    ])(
      "a $label token needs a refresh from exactly its refresh instant",
      ({ lifetime, refreshAfter }) =>
        Effect.gen(function*() {
          const token = yield* issueAt(T0, lifetime)
          const refreshAt = T0 + refreshAfter
          assert.strictEqual(expiry.refreshAtMillis(token), refreshAt)
          assert.strictEqual(DateTime.toEpochMillis(Expiry.refreshAt(token)!), refreshAt)

          const before = yield* stateAt(token, refreshAt - 1)
          assert.isFalse(before.needsRefresh)
          assert.isFalse(before.isExpired)
          assert.strictEqual(Duration.toMillis(before.timeToRefresh!), 1)

          const at = yield* stateAt(token, refreshAt)
          assert.isTrue(at.needsRefresh)
          assert.isFalse(at.isExpired)
          assert.strictEqual(Duration.toMillis(at.timeToRefresh!), 0)

          const after = yield* stateAt(token, refreshAt + 1)
          assert.isTrue(after.needsRefresh)
          assert.strictEqual(Duration.toMillis(after.timeToRefresh!), 0)
        })
    )

    it.effect("a token is expired from its expiry instant, not a millisecond before", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, 3600)
        assert.isFalse((yield* stateAt(token, T0 + minutes(60) - 1)).isExpired)
        assert.isTrue((yield* stateAt(token, T0 + minutes(60))).isExpired)
        assert.isTrue((yield* stateAt(token, T0 + minutes(60) + 1)).isExpired)
      }))

    it.effect("timeToRefresh counts down with the clock", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, 3600)
        assert.strictEqual(Duration.toMillis((yield* Expiry.timeToRefresh(token))!), minutes(55))
        yield* TestClock.adjust("30 minutes")
        assert.strictEqual(Duration.toMillis((yield* Expiry.timeToRefresh(token))!), minutes(25))
        yield* TestClock.adjust("25 minutes")
        assert.isTrue(Duration.isZero((yield* Expiry.timeToRefresh(token))!))
      }))

    it("the window is a tenth of the lifetime, capped at 5 minutes and at the lifetime", () => {
      assert.strictEqual(expiry.windowMillis(60_000), 6_000)
      assert.strictEqual(expiry.windowMillis(minutes(50)), minutes(5))
      assert.strictEqual(expiry.windowMillis(minutes(60)), minutes(5))
      assert.strictEqual(expiry.windowMillis(0), 0)
      assert.strictEqual(expiry.windowMillis(-1_000), 0)
      assert.strictEqual(expiry.windowMillis(10_000, Expiry.policy({ min: "1 minute" })), 10_000)
    })
  })

  describe("clock skew", () => {
    const skewed = Expiry.policy({ skew: "30 seconds" })

    it.effect("moves both the refresh instant and the expiry earlier", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, 3600)
        const refreshAt = T0 + minutes(55) - 30_000
        const expiredAt = T0 + minutes(60) - 30_000
        assert.strictEqual(expiry.refreshAtMillis(token, skewed), refreshAt)
        assert.strictEqual(expiry.expiredAtMillis(token, skewed), expiredAt)
        assert.strictEqual(DateTime.toEpochMillis(Expiry.refreshAt(token, skewed)!), refreshAt)
        assert.strictEqual(DateTime.toEpochMillis(Expiry.expiredAt(token, skewed)!), expiredAt)
        assert.isUndefined(Expiry.expiredAt(yield* issueAt(T0, undefined), skewed))
        assert.isFalse((yield* stateAt(token, refreshAt - 1, skewed)).needsRefresh)
        assert.isTrue((yield* stateAt(token, refreshAt, skewed)).needsRefresh)
        assert.isFalse((yield* stateAt(token, expiredAt - 1, skewed)).isExpired)
        assert.isTrue((yield* stateAt(token, expiredAt, skewed)).isExpired)
      }))

    it.effect("larger than the lifetime, asks for a refresh at once", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, 60)
        const state = yield* stateAt(token, T0, Expiry.policy({ skew: "2 minutes" }))
        assert.isTrue(state.needsRefresh)
        assert.isTrue(state.isExpired)
        assert.strictEqual(expiry.refreshAtMillis(token, Expiry.policy({ skew: "2 minutes" })), T0)
      }))
  })

  describe("custom policies", () => {
    const half = Expiry.policy({ fraction: 0.5, min: "1 minute", max: "10 minutes" })

    it("clamp(fraction x lifetime, min, max), never beyond the lifetime", () => {
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 3600), half), T0 + minutes(50))
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 600), half), T0 + minutes(5))
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 90), half), T0 + 30_000)
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 30), half), T0)
    })

    it("policy() keeps the fraction within [0, 1] and max at least min", () => {
      assert.strictEqual(Expiry.policy({ fraction: 7 }).fraction, 1)
      assert.strictEqual(Expiry.policy({ fraction: -1 }).fraction, 0)
      assert.strictEqual(Expiry.policy({ fraction: Number.NaN }).fraction, Expiry.defaultPolicy.fraction)
      const inverted = Expiry.policy({ min: "10 minutes", max: "1 minute" })
      assert.strictEqual(Duration.toMillis(inverted.max), minutes(10))
      assert.deepStrictEqual(Expiry.policy({}), Expiry.defaultPolicy)
    })

    it("a zero fraction refreshes at the expiry, a fraction of one at issue", () => {
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 60), Expiry.policy({ fraction: 0 })), T0 + 60_000)
      assert.strictEqual(expiry.refreshAtMillis(tokenAt(T0, 60), Expiry.policy({ fraction: 1 })), T0)
    })
  })

  describe("tokens without an expiry", () => {
    it.effect("never need a proactive refresh and never count as expired", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, undefined)
        assert.isUndefined(token.expiresAt)
        assert.isUndefined(Expiry.refreshAt(token))
        assert.isUndefined(expiry.refreshAtMillis(token))
        assert.isUndefined(expiry.expiredAtMillis(token))
        const later = yield* stateAt(token, T0 + 1000 * 86_400_000, Expiry.policy({ skew: "1 hour" }))
        assert.deepStrictEqual(later, { needsRefresh: false, isExpired: false, timeToRefresh: undefined })
      }))

    it.effect("an expires_in of zero means no expiry was given", () =>
      Effect.gen(function*() {
        const token = yield* issueAt(T0, 0)
        assert.isUndefined(token.expiresAt)
        assert.isFalse(yield* Expiry.needsRefresh(token))
      }))
  })

  it("a token that expired before it was issued needs a refresh and is expired", () => {
    const token = new Token.Token({
      accessToken: Redacted.make("access"),
      tokenType: "Bearer",
      issuedAt: DateTime.unsafeMake(T0),
      expiresAt: DateTime.unsafeMake(T0 - 1000),
      scopes: []
    })
    assert.isTrue(expiry.needsRefreshAt(token, T0))
    assert.isTrue(expiry.isExpiredAt(token, T0))
  })

  it("pure functions take epoch milliseconds or a DateTime alike", () => {
    const token = tokenAt(T0, 3600)
    for (const offset of [0, minutes(55) - 1, minutes(55), minutes(60)]) {
      const millis = T0 + offset
      const dateTime = DateTime.unsafeMake(millis)
      assert.strictEqual(expiry.needsRefreshAt(token, millis), expiry.needsRefreshAt(token, dateTime))
      assert.strictEqual(expiry.isExpiredAt(token, millis), expiry.isExpiredAt(token, dateTime))
      assert.deepStrictEqual(expiry.timeToRefreshAt(token, millis), expiry.timeToRefreshAt(token, dateTime))
    }
  })

  describe("laws", () => {
    const policies = FastCheck.record({
      fraction: FastCheck.double({ min: 0, max: 1, noNaN: true }),
      min: FastCheck.integer({ min: 0, max: 86_400_000 }),
      max: FastCheck.integer({ min: 0, max: 86_400_000 }),
      skew: FastCheck.integer({ min: 0, max: 3_600_000 })
    }).map((options) => Expiry.policy(options))

    it.prop(
      "issuedAt <= refreshAt <= expiresAt for any lifetime and policy",
      [FastCheck.integer({ min: 0, max: 4_000_000_000_000 }), FastCheck.integer({ min: 1, max: 10 ** 9 }), policies],
      ([issuedAt, lifetime, policy]) => {
        const token = tokenAt(issuedAt, lifetime)
        const refreshAt = expiry.refreshAtMillis(token, policy)!
        assert.isAtLeast(refreshAt, issuedAt)
        assert.isAtMost(refreshAt, DateTime.toEpochMillis(token.expiresAt!))
      }
    )

    it.effect.prop(
      "the effectful functions read Clock and agree with the pure ones",
      [FastCheck.integer({ min: 1, max: 10 ** 7 }), FastCheck.double({ min: 0, max: 1.2, noNaN: true }), policies],
      ([lifetime, elapsed, policy]) =>
        Effect.gen(function*() {
          const token = yield* issueAt(T0, lifetime)
          const now = T0 + Math.floor(elapsed * lifetime * 1000)
          const state = yield* stateAt(token, now, policy)
          assert.strictEqual(state.needsRefresh, expiry.needsRefreshAt(token, now, policy))
          assert.strictEqual(state.isExpired, expiry.isExpiredAt(token, now, policy))
          assert.deepStrictEqual(state.timeToRefresh, expiry.timeToRefreshAt(token, now, policy))
          // Once expired, always inside the refresh window.
          if (state.isExpired) assert.isTrue(state.needsRefresh)
        }),
      { fastCheck: { numRuns: 50 } }
    )
  })
})
