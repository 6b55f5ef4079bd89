/**
 * The secret canary against a hostile server: every secret holds one known string, and the servers
 * echo it in every way issue 8 names (raw, percent-encoded in either case, form-encoded, inside the
 * bare base64 of the Basic credential, in response headers, in challenges, in redirects, in oversized
 * and malformed bodies), while everything observable is recorded: log lines with annotations and
 * causes, spans (tokenfx's and the `HttpClient`'s own, attributes, events, exits), metric keys and
 * tags, and every value handed back rendered with `String`, `JSON.stringify`, `util.inspect` and
 * `Cause.pretty`. The canary must appear nowhere.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

// Characters that change under percent- and form-encoding.
const CANARY = "k9Anary~7d2e+4c/q:z"
const secret = (what: string) => `${CANARY}-${what}`
const CLIENT_ID = "canary-client"
const CLIENT_SECRET = secret("client-secret")
const AT = secret("access-token")
const RT = secret("refresh-token")
const DEVICE_CODE = secret("device-code")

const form = (text: string) => new URLSearchParams([["", text]]).toString().slice(1)
const lower = (text: string) => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())
const basic = btoa(`${form(CLIENT_ID)}:${form(CLIENT_SECRET)}`)

// Every form under which a leak would be recognised.
const forms = [
  CANARY,
  encodeURIComponent(CANARY),
  lower(encodeURIComponent(CANARY)),
  form(CANARY),
  lower(form(CANARY)),
  basic
]

// Every way a careless or hostile server quotes `quoted` back.
const echoes = (quoted: string) => [
  quoted,
  encodeURIComponent(quoted),
  lower(encodeURIComponent(quoted)),
  form(quoted),
  lower(form(quoted))
]

const capture = () => {
  const logs: Array<string> = []
  const shown: Array<string> = []
  const recording = RecordingTracer.make()
  const logger = Logger.make(({ annotations, cause, logLevel, message, spans }) => {
    logs.push([
      logLevel.label,
      inspect(message, { depth: 10 }),
      ...HashMap.toEntries(annotations).map(([key, value]) => `${key}=${inspect(value, { depth: 10 })}`),
      Cause.pretty(cause),
      ...List.toArray(spans).map((span) => span.label)
    ].join(" "))
  })
  const show = (value: unknown) => {
    let json = ""
    try {
      json = JSON.stringify(value) ?? ""
    } catch {
      json = "(not JSON)"
    }
    shown.push(String(value), json, inspect(value, { depth: 10 }))
    if (value instanceof Error) shown.push(value.message, Cause.pretty(Cause.fail(value)))
  }
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.withTracer(recording.tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  // Forked with the clock moved past any backoff, cooldown or timeout; whatever comes back is shown.
  const attempt = <A, E>(effect: Effect.Effect<A, E>, project: (value: A) => unknown = (value) => value) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.exit(effect))
      for (let i = 0; i < 10; i++) {
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        yield* TestClock.adjust("1 minute")
      }
      const exit = yield* Fiber.join(fiber)
      if (exit._tag === "Success") show(project(exit.value))
      else {
        shown.push(Cause.pretty(exit.cause))
        Option.map(Cause.failureOption(exit.cause), show)
      }
      return exit
    })
  const assertClean = Effect.gen(function*() {
    const spans = recording.spans.map((span) =>
      [
        span.name,
        ...[...span.attributes].map(([key, value]) => `${key}=${inspect(value, { depth: 10 })}`),
        ...span.events.map((event) => `${event.name} ${inspect(event.attributes, { depth: 10 })}`),
        span.status._tag === "Ended" && span.status.exit._tag === "Failure" ? Cause.pretty(span.status.exit.cause) : ""
      ].join(" ")
    )
    const metrics = (yield* Metric.snapshot).map((pair) =>
      [pair.metricKey.name, ...pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`)].join(" ")
    )
    const everything = { logs, spans, metrics, shown }
    for (const [where, texts] of Object.entries(everything)) {
      for (const text of texts) {
        for (const leak of forms) {
          assert.notInclude(text, leak, `the canary leaked into ${where}: ${text.slice(0, 500)}`)
        }
      }
    }
    // The recording saw the scene: the HttpClient's own spans, tokenfx's, logs and errors.
    assert.isTrue(recording.spans.some((span) => span.name.startsWith("http.client")), "no http.client span")
    assert.isTrue(recording.spans.some((span) => span.name.startsWith("TokenEndpoint.")), "no TokenEndpoint span")
    assert.isAbove(shown.length, 10)
    return everything
  })
  return { assertClean, attempt, logs, run, shown }
}

// An error answer quoting `quoted` every way at once: body, challenge and headers.
const hostileError = (status: number, code: string, quoted: string, headers: Record<string, string> = {}) => ({
  status,
  body: {
    error: code,
    error_description: `rejected ${echoes(quoted).join(" ")} ${basic} ${"x".repeat(100_000)}`,
    error_uri: `https://auth.example.com/e?v=${encodeURIComponent(quoted)}`
  },
  headers: {
    "www-authenticate": `Basic error="${code}", error_description="${quoted} ${basic}"`,
    "x-echo": quoted,
    "set-cookie": `session=${encodeURIComponent(quoted)}`,
    "location": `https://evil.example/?token=${encodeURIComponent(quoted)}`,
    ...headers
  }
})

describe("secret canary under hostile answers", () => {
  it.effect("TokenEndpoint: echoes in bodies, challenges, headers, redirects, malformed and oversized answers", () => {
    const c = capture()
    return c.run(Effect.gen(function*() {
      // Each step on a server of its own, answering its script (the last answer repeated).
      const step = <A, E>(
        replies: ReadonlyArray<FakeHttp.Reply>,
        operation: (endpoint: TokenEndpoint.TokenEndpoint["Type"]) => Effect.Effect<A, E>
      ) =>
        Effect.flatMap(
          Endpoint.make(FakeHttp.make(replies), {
            clientId: CLIENT_ID,
            clientSecret: Redacted.make(CLIENT_SECRET),
            maxBodySize: 200_000
          }),
          (endpoint) => c.attempt(operation(endpoint))
        )
      const previous = Token.make({ access_token: Redacted.make(AT), refresh_token: Redacted.make(RT) }, 0)

      for (const [status, code] of [[400, "invalid_client"], [401, "invalid_grant"], [403, "access_denied"]] as const) {
        yield* step([hostileError(status, code, CLIENT_SECRET)], (endpoint) => endpoint.clientCredentials())
        yield* step([hostileError(status, code, RT)], (endpoint) => endpoint.refresh(previous))
      }
      // Rate limited with a 300-digit Retry-After, unavailable with a date in 9999, then a page.
      for (
        const answer of [
          hostileError(429, "rate_limited", RT, { "retry-after": "9".repeat(300) }),
          hostileError(503, "temporarily_unavailable", RT, { "retry-after": "Fri, 31 Dec 9999 23:59:59 GMT" }),
          { status: 500, body: `<html>refresh_token=${RT} ${basic}</html>`, headers: { "x-echo": RT } }
        ]
      ) {
        yield* step([answer], (endpoint) => endpoint.refresh(previous))
      }
      // A redirect whose Location carries the secret.
      yield* step(
        [{ status: 302, headers: { location: `https://evil.example/?rt=${encodeURIComponent(RT)}` } }],
        (endpoint) => endpoint.refresh(previous)
      )
      // 2xx answers that do not decode, or that set a prototype, or nest deep, or are too large.
      for (
        const answer of [
          { status: 200, body: `{"access_token":5,"refresh_token":"${RT}"}`, headers: { "x-echo": RT } },
          { status: 200, body: `{"access_token":"${AT}","__proto__":{"refresh_token":"${RT}"}}` },
          { status: 200, body: `{"access_token":"${AT}","x":${"[".repeat(3_000)}${"]".repeat(3_000)}}` },
          { status: 200, body: JSON.stringify({ access_token: AT, padding: "p".repeat(300_000) }) }
        ]
      ) {
        yield* step([answer], (endpoint) => endpoint.refresh(previous))
      }
      // Revocation, introspection and the device flow, refused with echoes.
      yield* step([hostileError(400, "invalid_request", RT)], (endpoint) => endpoint.revoke(Redacted.make(RT)))
      yield* step([hostileError(401, "invalid_client", AT)], (endpoint) => endpoint.introspect(Redacted.make(AT)))
      yield* step([hostileError(400, "expired_token", DEVICE_CODE)], (endpoint) =>
        endpoint.pollDeviceToken({
          deviceCode: Redacted.make(DEVICE_CODE),
          userCode: "U",
          verificationUri: "https://auth.example.com/device",
          expiresAt: DateTime.unsafeMake(600_000),
          interval: Duration.seconds(1)
        }))
      yield* c.assertClean
    }))
  })

  it.scoped("TokenManager and AuthorizedClient: logs, events, responses and errors of a hostile resource server", () => {
    const c = capture()
    return c.run(Effect.gen(function*() {
      // The authorization server refuses refreshes, quoting the refresh token.
      const as = FakeHttp.make(() =>
        hostileError(503, "temporarily_unavailable", RT, { "retry-after": "9".repeat(300) })
      )
      const endpoint = yield* Endpoint.make(as, { clientId: CLIENT_ID, clientSecret: Redacted.make(CLIENT_SECRET) })
      const manager = yield* TokenManager.make().pipe(
        Effect.provide(TokenStore.layerMemory),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      const token = new Token.Token({
        accessToken: Redacted.make(AT),
        tokenType: "Bearer",
        refreshToken: Redacted.make(RT),
        issuedAt: DateTime.unsafeMake(0),
        expiresAt: DateTime.unsafeMake(3_600_000),
        scopes: []
      })
      yield* manager.set("alice", token)
      // The resource server echoes the token everywhere, and redirects elsewhere with it.
      const resource = HttpClient.make((request, url) =>
        Effect.sync(() => {
          // Headers quoting the token: tokenfx must keep them out of its spans. (The response itself is
          // the caller's, headers and body included; what tokenfx owes is that its `request` carries no
          // token, which is what is shown of it below.)
          const echo = { "x-echo": AT, "set-cookie": `t=${encodeURIComponent(AT)}` }
          const answer = (status: number, headers: Record<string, string>, body = "{}") =>
            HttpClientResponse.fromWeb(request, new Response(body, { status, headers: { ...echo, ...headers } }))
          switch (url.pathname) {
            case "/401":
              return answer(401, { "www-authenticate": `Bearer error="invalid_token", error_description="${AT}"` })
            case "/403":
              return answer(403, {
                "www-authenticate": `Bearer error="insufficient_scope", scope="${AT}", error_description="${AT}"`
              })
            case "/redirect":
              return answer(302, { location: `https://evil.example/steal?t=${encodeURIComponent(AT)}` }, "")
            default:
              return answer(200, { "content-type": "application/json" })
          }
        })
      )
      const plain = AuthorizedClient.authorize(resource, manager, { key: "alice", origin: "https://api.example.com" })
      const following = AuthorizedClient.authorize(HttpClient.followRedirects(resource), manager, {
        key: "alice",
        origin: "https://api.example.com"
      })
      const failing = AuthorizedClient.authorize(HttpClient.filterStatusOk(resource), manager, {
        key: "alice",
        origin: "https://api.example.com"
      })
      const request = (response: { readonly request: unknown }) => response.request
      // Errors tokenfx builds (InvalidToken, InsufficientScope, TransportError) are shown whole; the
      // wrapped client's own ResponseError by its response's request.
      const ownErrors = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.catchIf(
          effect,
          (error): error is E => (error as { readonly _tag?: unknown })._tag === "ResponseError",
          (error) =>
            Effect.fail((error as unknown as { readonly response: { readonly request: unknown } }).response.request)
        )
      for (const path of ["/ok", "/401", "/403", "/redirect"]) {
        yield* c.attempt(plain.get(`https://api.example.com${path}`), request)
        yield* c.attempt(following.get(`https://api.example.com${path}`), request)
        yield* c.attempt(ownErrors(failing.get(`https://api.example.com${path}`)), request)
      }
      // The token has expired: the manager refreshes, fails with the 300-digit Retry-After, and logs.
      yield* TestClock.adjust("2 hours")
      yield* c.attempt(manager.get("alice"))
      yield* c.attempt(plain.get("https://api.example.com/ok"), request)
      const everything = yield* c.assertClean
      assert.isTrue(everything.logs.some((line) => line.includes("refresh failed")), "no refresh failure logged")
    }))
  })
})
