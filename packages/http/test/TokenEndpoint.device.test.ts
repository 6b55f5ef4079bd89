import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

const deviceUrl = `${Endpoint.issuer}/oauth/device`

const authorizationReply = (fields: Record<string, unknown> = {}) =>
  FakeHttp.json({
    device_code: "dc-secret",
    user_code: "WDJB-MJHT",
    verification_uri: "https://auth.example.com/device",
    verification_uri_complete: "https://auth.example.com/device?user_code=WDJB-MJHT",
    expires_in: 600,
    ...fields
  })

// The device authorization answer first (always the first request), then the answers to each poll.
const script = (authorization: FakeHttp.Reply, polls: ReadonlyArray<FakeHttp.Reply>) =>
  FakeHttp.make((request, index) =>
    request.url === deviceUrl ? authorization : polls[Math.min(index - 1, polls.length - 1)]
  )

const pollInstants = (server: FakeHttp.FakeServer) =>
  server.requests.filter((request) => request.url === Endpoint.tokenUrl).map((request) => request.at)

describe("TokenEndpoint device flow", () => {
  it.effect("deviceAuthorization returns the user code, URIs and expiry; the device code stays Redacted", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(10_000)
      const server = script(authorizationReply({ interval: 3 }), [])
      const endpoint = yield* Endpoint.make(server)
      const authorization = yield* endpoint.deviceAuthorization({ scope: ["openid", "api:read"] })
      assert.strictEqual(authorization.userCode, "WDJB-MJHT")
      assert.strictEqual(authorization.verificationUri, "https://auth.example.com/device")
      assert.strictEqual(authorization.verificationUriComplete, "https://auth.example.com/device?user_code=WDJB-MJHT")
      assert.strictEqual(DateTime.toEpochMillis(authorization.expiresAt), 10_000 + 600_000)
      assert.deepStrictEqual(authorization.interval, Duration.seconds(3))
      assert.isTrue(Redacted.isRedacted(authorization.deviceCode))
      assert.notInclude(JSON.stringify(authorization), "dc-secret")
      const [request] = server.requests
      assert.strictEqual(request.url, deviceUrl)
      assert.strictEqual(request.form.get("scope"), "openid api:read")
      assert.strictEqual(request.headers["authorization"]?.startsWith("Basic "), true)
    }))

  it.effect("a missing interval defaults to 5 seconds", () =>
    Effect.gen(function*() {
      const endpoint = yield* Endpoint.make(script(authorizationReply(), []))
      const authorization = yield* endpoint.deviceAuthorization()
      assert.deepStrictEqual(authorization.interval, Duration.seconds(5))
    }))

  it.effect("polls every interval, 5 s slower after slow_down, until the token", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply(), [
        FakeHttp.oauthError("authorization_pending"),
        FakeHttp.oauthError("authorization_pending"),
        FakeHttp.oauthError("slow_down"),
        FakeHttp.oauthError("authorization_pending"),
        FakeHttp.token({ refresh_token: "rt-1" })
      ])
      const endpoint = yield* Endpoint.make(server)
      const authorization = yield* endpoint.deviceAuthorization()
      const fiber = yield* Effect.fork(endpoint.pollDeviceToken(authorization))
      yield* TestClock.adjust("4999 millis")
      assert.deepStrictEqual(pollInstants(server), [])
      yield* TestClock.adjust("1 minute")
      const token = yield* Fiber.join(fiber)
      assert.deepStrictEqual(pollInstants(server), [5_000, 10_000, 15_000, 25_000, 35_000])
      assert.strictEqual(Redacted.value(token.refreshToken!), "rt-1")
      const poll = server.requests.find((request) => request.url === Endpoint.tokenUrl)!
      assert.strictEqual(poll.form.get("grant_type"), "urn:ietf:params:oauth:grant-type:device_code")
      assert.strictEqual(poll.form.get("device_code"), "dc-secret")
    }))

  it.effect("the span counts the polls sent, and the expiry error names the token endpoint", () =>
    Effect.gen(function*() {
      const { spans, tracer } = RecordingTracer.make()
      const server = script(authorizationReply({ expires_in: 12 }), [FakeHttp.oauthError("authorization_pending")])
      const endpoint = yield* Endpoint.make(server)
      const authorization = yield* endpoint.deviceAuthorization()
      const fiber = yield* Effect.fork(
        Effect.flip(endpoint.pollDeviceToken(authorization).pipe(Effect.withTracer(tracer)))
      )
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "ExpiredToken" && error.endpoint, Endpoint.tokenUrl)
      const span = spans.find((s) => s.name === "TokenEndpoint.pollDeviceToken")
      assert.strictEqual(span?.attributes.get("tokenfx.polls"), 2)
    }))

  it.effect("stops on access_denied", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply({ interval: 2 }), [
        FakeHttp.oauthError("authorization_pending"),
        FakeHttp.oauthError("access_denied")
      ])
      const endpoint = yield* Endpoint.make(server)
      const fiber = yield* Effect.fork(Effect.flip(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization())))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "AccessDenied")
      assert.deepStrictEqual(pollInstants(server), [2_000, 4_000])
    }))

  it.effect("stops on expired_token from the server", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply({ interval: 1 }), [FakeHttp.oauthError("expired_token")])
      const endpoint = yield* Endpoint.make(server)
      const fiber = yield* Effect.fork(Effect.flip(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization())))
      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ExpiredToken")
      assert.deepStrictEqual(pollInstants(server), [1_000])
    }))

  it.effect("stops at the device code's own expiry without polling past it", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply({ expires_in: 12 }), [FakeHttp.oauthError("authorization_pending")])
      const endpoint = yield* Endpoint.make(server)
      const fiber = yield* Effect.fork(Effect.flip(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization())))
      yield* TestClock.adjust("11999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "ExpiredToken")
      assert.deepStrictEqual(pollInstants(server), [5_000, 10_000])
    }))

  // RFC 8628 section 3.5: nothing is asked for with an expired device code. A poll's own retries (a
  // 503's Retry-After, a hanging poll's timeouts) once ran past the expiry and ended in their error.
  it.effect("a poll retried past the expiry (503 with Retry-After, a hang) ends at the expiry: ExpiredToken", () =>
    Effect.gen(function*() {
      for (const hostile of [{ status: 503, headers: { "retry-after": "30" } }, FakeHttp.never]) {
        const server = script(authorizationReply({ expires_in: 12 }), [
          FakeHttp.oauthError("authorization_pending"),
          hostile
        ])
        const endpoint = yield* Endpoint.make(server)
        const start = yield* Clock.currentTimeMillis
        const fiber = yield* Effect.fork(Effect.flip(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization())))
        yield* TestClock.adjust("11999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)), "the flow ends at the expiry")
        assert.strictEqual((yield* Fiber.join(fiber))._tag, "ExpiredToken")
        yield* TestClock.adjust("10 minutes")
        assert.deepStrictEqual(pollInstants(server).map((at) => at - start), [5_000, 10_000])
      }
    }))

  it.effect("the interval may be overridden", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply(), [
        FakeHttp.oauthError("authorization_pending"),
        FakeHttp.oauthError("slow_down"),
        FakeHttp.token()
      ])
      const endpoint = yield* Endpoint.make(server)
      const authorization = yield* endpoint.deviceAuthorization()
      const fiber = yield* Effect.fork(endpoint.pollDeviceToken(authorization, { interval: "100 millis" }))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(pollInstants(server), [100, 200, 5_300])
    }))

  it.effect("transient failures of a poll are retried with backoff, not counted as polls", () =>
    Effect.gen(function*() {
      const server = script(authorizationReply({ interval: 5 }), [{ status: 503 }, FakeHttp.token()])
      const endpoint = yield* Endpoint.make(server)
      const fiber = yield* Effect.fork(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization()))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(pollInstants(server), [5_000, 5_500])
    }))

  // What the server says the user should open and type is shown as it is (the CLI prints it to a
  // terminal): a script or data URL, a sign-in page over plain HTTP, or escape sequences that rewrite
  // the terminal were all passed through.
  it.effect("a verification URI that is not HTTPS, and a code or URI with control characters, are refused", () =>
    Effect.gen(function*() {
      const hostile: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ verification_uri_complete: "javascript:alert(document.cookie)" }, "verification_uri_complete"],
        [{ verification_uri: "data:text/html,<script>alert(1)</script>" }, "verification_uri"],
        [{ verification_uri: "http://auth.example.com/device" }, "verification_uri"],
        [{ verification_uri: "https://auth.example.com/device\u001b[2J" }, "verification_uri"],
        [{ user_code: "WDJB\u001b]8;;https://evil.example/\u0007-MJHT" }, "user_code"],
        [{ user_code: "WDJB\u202e-MJHT" }, "user_code"]
      ]
      for (const [fields, field] of hostile) {
        const endpoint = yield* Endpoint.make(script(authorizationReply(fields), []))
        const error = yield* Effect.flip(endpoint.deviceAuthorization())
        assert.deepStrictEqual([error._tag, error._tag === "MalformedResponse" && error.field], [
          "MalformedResponse",
          field
        ])
      }
      // A page on another host (Google's is www.google.com/device) and plain HTTP to loopback are fine.
      const honest = yield* Endpoint.make(script(
        authorizationReply({
          verification_uri: "http://127.0.0.1:8080/device",
          verification_uri_complete: "https://www.google.com/device?user_code=WDJB-MJHT"
        }),
        []
      ))
      const authorization = yield* honest.deviceAuthorization()
      assert.strictEqual(authorization.verificationUri, "http://127.0.0.1:8080/device")
    }))

  it.effect("a malformed device authorization answer and a missing endpoint are typed errors", () =>
    Effect.gen(function*() {
      const server = script(FakeHttp.json({ device_code: "dc", expires_in: 600 }), [])
      const endpoint = yield* Endpoint.make(server)
      const malformed = yield* Effect.flip(endpoint.deviceAuthorization())
      assert.strictEqual(malformed._tag === "MalformedResponse" && malformed.field, "user_code")
      const none = yield* Endpoint.make(server, { deviceAuthorizationEndpoint: undefined })
      const missing = yield* Effect.flip(none.deviceAuthorization())
      assert.strictEqual(missing._tag === "MissingEndpoint" && missing.endpoint, "device_authorization")
    }))
})
