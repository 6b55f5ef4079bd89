import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as DeviceAuthorization from "@tokenfx/http/DeviceAuthorization"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const authorization = (expiresInSeconds: number, intervalSeconds = 5): DeviceAuthorization.DeviceAuthorization => ({
  deviceCode: Redacted.make("dc"),
  userCode: "WDJB-MJHT",
  verificationUri: "https://auth.example.com/device",
  expiresAt: DateTime.unsafeMake(expiresInSeconds * 1000),
  interval: Duration.seconds(intervalSeconds)
})

// A request that answers from `answers` in turn and records when it was sent.
const scripted = <E>(answers: ReadonlyArray<E | "token">) => {
  const instants: Array<number> = []
  const request = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const answer = answers[Math.min(instants.length, answers.length - 1)]
    instants.push(now)
    return answer === "token" ? Effect.succeed("token" as const) : Effect.fail(answer)
  })
  return { instants, request }
}

describe("DeviceAuthorization.poll", () => {
  it.effect("waits an interval first, then polls while pending, as slow as slow_down asks", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted<OAuthError.OAuthError>([
        new OAuthError.AuthorizationPending({}),
        new OAuthError.SlowDown({ interval: Duration.seconds(20) }),
        new OAuthError.SlowDown({}),
        "token"
      ])
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(request, authorization(600)))
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* Fiber.join(fiber), "token")
      assert.deepStrictEqual(instants, [5_000, 10_000, 30_000, 55_000])
    }))

  // RFC 8628 section 3.5: "the interval MUST be increased by 5 seconds for this and all subsequent
  // requests". A slow_down naming an interval no slower than the current one once left it unchanged.
  it.effect("a slow_down naming an interval no slower than the current one still adds 5 seconds, and keeps it", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted<OAuthError.OAuthError>([
        new OAuthError.SlowDown({ interval: Duration.seconds(5) }),
        new OAuthError.SlowDown({ interval: Duration.seconds(1) }),
        new OAuthError.AuthorizationPending({}),
        "token"
      ])
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(request, authorization(600)))
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* Fiber.join(fiber), "token")
      assert.deepStrictEqual(instants, [5_000, 15_000, 30_000, 45_000])
    }))

  it.effect("stops at the expiry without polling at or past it: ExpiredToken", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted([new OAuthError.AuthorizationPending({})])
      const fiber = yield* Effect.fork(
        Effect.flip(request.pipe(DeviceAuthorization.poll(authorization(12), { interval: "4 seconds" })))
      )
      yield* TestClock.adjust("11999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ExpiredToken")
      assert.deepStrictEqual(instants, [4_000, 8_000])
    }))

  // A sleep of fractional length leaves `TestClock` at a fractional instant: an expiry less than a
  // nanosecond ahead was once a zero wait, and the code was polled again and again at that instant.
  it.effect("an expiry less than a nanosecond ahead is waited out, not polled in a loop", () =>
    Effect.gen(function*() {
      const start = 1_000 - 1e-7
      yield* TestClock.setTime(start)
      const { instants, request } = scripted([new OAuthError.AuthorizationPending({})])
      // Bounded, so that a loop fails the test rather than hanging it.
      const bounded = Effect.zipRight(
        Effect.suspend(() => instants.length < 10 ? Effect.void : Effect.dieMessage("polled in a loop")),
        request
      )
      const fiber = yield* Effect.fork(
        Effect.flip(bounded.pipe(DeviceAuthorization.poll(authorization(13), { interval: "4 seconds" })))
      )
      yield* TestClock.adjust("13 seconds")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "ExpiredToken")
      assert.deepStrictEqual(instants, [start + 4_000, start + 4_000 + 4_000, start + 4_000 + 4_000 + 4_000])
    }))

  // A 429 whose Retry-After is beyond the endpoint's own retry budget once ended polling with
  // RateLimited, while the user could still be approving: the device flow had to start over.
  it.effect("a rate limit (429) waits as long as asked, then polls again, 5 seconds slower from then on", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted<OAuthError.OAuthError>([
        new OAuthError.AuthorizationPending({}),
        new OAuthError.RateLimited({ retryAfter: Duration.seconds(90) }),
        new OAuthError.RateLimited({}),
        new OAuthError.AuthorizationPending({}),
        "token"
      ])
      const fiber = yield* Effect.fork(DeviceAuthorization.poll(request, authorization(600)))
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual(yield* Fiber.join(fiber), "token")
      assert.deepStrictEqual(instants, [5_000, 10_000, 100_000, 115_000, 130_000])
    }))

  it.effect("a rate limit that would outlast the device code is the answer: RateLimited at once, no poll after it", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted<OAuthError.OAuthError>([
        new OAuthError.RateLimited({ retryAfter: Duration.seconds(600) })
      ])
      const fiber = yield* Effect.fork(Effect.flip(DeviceAuthorization.poll(request, authorization(600))))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RateLimited")
      assert.deepStrictEqual(instants, [5_000])
    }))

  it.effect("any other answer ends polling at once", () =>
    Effect.gen(function*() {
      const { instants, request } = scripted([new OAuthError.AccessDenied({})])
      const fiber = yield* Effect.fork(Effect.flip(DeviceAuthorization.poll(request, authorization(600))))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "AccessDenied")
      assert.deepStrictEqual(instants, [5_000])
    }))
})
