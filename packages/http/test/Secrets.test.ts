/**
 * The secret canary: one known string inside every secret (client secret, access and refresh tokens,
 * device code, PKCE verifier, authorization code, assertions), every operation driven through a fake
 * server that echoes those secrets back in its errors, and everything observable captured (logs with
 * their annotations and causes, spans with attributes, events and exits, metric keys and tags,
 * lifecycle events, errors however printed). The canary must appear nowhere.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as List from "effect/List"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

// Characters that change under percent- and form-encoding, so that an encoded echo is caught too.
const CANARY = "c4n4ry~5e1f+9b/x"
const forms = [CANARY, encodeURIComponent(CANARY), new URLSearchParams([["", CANARY]]).toString().slice(1)]

const secret = (what: string) => `${CANARY}-${what}`
const CLIENT_SECRET = secret("client-secret")
const AT = secret("access-token-1")
const AT2 = secret("access-token-2")
const RT = secret("refresh-token-1")
const RT2 = secret("refresh-token-2")
const DEVICE_CODE = secret("device-code")
const VERIFIER = secret("pkce-verifier")
const CODE = secret("authorization-code")
const ASSERTION = secret("jwt-assertion")

const ORIGIN = "https://api.example.com"

// An error body that quotes what the server was sent, as careless servers do.
const echo = (error: string, quoted: string, status = 400, headers: Record<string, string> = {}): FakeHttp.Reply => ({
  status,
  body: {
    error,
    error_description: `rejected ${quoted} (${encodeURIComponent(quoted)})`,
    error_uri: `https://auth.example.com/errors?value=${encodeURIComponent(quoted)}`
  },
  headers
})

const tokenReply = (accessToken: string, refreshToken: string): FakeHttp.Reply =>
  FakeHttp.json({ access_token: accessToken, refresh_token: refreshToken, token_type: "Bearer", expires_in: 60 })

/** Everything a user could see: captured, then searched for the canary. */
const makeCapture = () => {
  const logs: Array<string> = []
  const shown: Array<string> = []
  const recording = RecordingTracer.make()
  const logger = Logger.make(({ annotations, cause, logLevel, message, spans }) => {
    logs.push(
      [
        logLevel.label,
        inspect(message, { depth: 10 }),
        ...HashMap.toEntries(annotations).map(([key, value]) => `${key}=${inspect(value, { depth: 10 })}`),
        Cause.pretty(cause),
        ...List.toArray(spans).map((span) => span.label)
      ].join(" ")
    )
  })
  const show = (value: unknown) => {
    shown.push(String(value), JSON.stringify(value) ?? "", inspect(value, { depth: 10 }))
    if (value instanceof Error) shown.push(value.message, Cause.pretty(Cause.fail(value)))
  }
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.withTracer(recording.tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  const spans = () =>
    recording.spans.map((span) =>
      [
        span.name,
        ...[...span.attributes].map(([key, value]) => `${key}=${inspect(value, { depth: 10 })}`),
        ...span.events.map((event) => `${event.name} ${inspect(event.attributes, { depth: 10 })}`),
        span.status._tag === "Ended" && span.status.exit._tag === "Failure" ? Cause.pretty(span.status.exit.cause) : ""
      ].join(" ")
    )
  const metrics = Effect.map(Metric.snapshot, (pairs) =>
    pairs.map((pair) =>
      [
        pair.metricKey.name,
        Option.getOrElse(pair.metricKey.description, () => ""),
        ...pair.metricKey.tags.map((tag) => `${tag.key}=${tag.value}`)
      ].join(" ")
    ))
  // Nothing of the canary anywhere; `expect` names texts that prove the echoes were there to mask.
  const assertClean = (expect: { readonly spans: ReadonlyArray<string>; readonly shown: ReadonlyArray<string> }) =>
    Effect.gen(function*() {
      const everything = {
        logs,
        spans: spans(),
        metrics: yield* metrics,
        shown
      }
      for (const [where, texts] of Object.entries(everything)) {
        for (const text of texts) {
          for (const form of forms) assert.notInclude(text, form, `the canary leaked into ${where}: ${text}`)
        }
      }
      assert.isTrue(everything.metrics.some((metric) => metric.startsWith("tokenfx_")))
      for (const name of expect.spans) assert.isTrue(recording.spans.some((span) => span.name === name), name)
      for (const text of expect.shown) assert.isTrue(shown.some((s) => s.includes(text)), text)
      return everything
    })
  return { assertClean, logs, run, show, spans: recording.spans }
}

describe("Secrets", () => {
  it.effect("TokenEndpoint: no operation, answered or failed, lets a secret out", () => {
    const capture = makeCapture()
    return capture.run(Effect.gen(function*() {
      const replies: Array<FakeHttp.Reply> = []
      const server = FakeHttp.make(() => replies.shift() ?? { status: 500 })
      const reply = (...next: ReadonlyArray<FakeHttp.Reply>) => Effect.sync(() => replies.push(...next))
      const basic = yield* Endpoint.make(server, { clientSecret: Redacted.make(CLIENT_SECRET) })
      const post = yield* Endpoint.make(server, {
        clientSecret: Redacted.make(CLIENT_SECRET),
        clientAuthentication: "client_secret_post",
        backoff: { maxAttempts: 1 }
      })
      const previous = Token.make({ access_token: Redacted.make(AT), refresh_token: Redacted.make(RT) }, 0)
      const attempt = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          // Forked, with the clock moved past any backoff or timeout.
          const fiber = yield* Effect.fork(Effect.either(effect))
          yield* TestClock.adjust("2 minutes")
          const result = yield* Fiber.join(fiber)
          capture.show(result._tag === "Right" ? result.right : result.left)
          return result
        })

      // Grants: answered, then refused with the secrets quoted back.
      yield* reply(tokenReply(AT, RT))
      yield* attempt(basic.clientCredentials())
      yield* reply(echo("invalid_client", CLIENT_SECRET, 401))
      yield* attempt(post.clientCredentials())
      // A 401 challenge without a body, quoting the secret.
      yield* reply({
        status: 401,
        headers: {
          "www-authenticate": `Basic realm="as", error="invalid_client", error_description="bad ${CLIENT_SECRET}"`
        }
      })
      yield* attempt(basic.clientCredentials())
      yield* reply(tokenReply(AT2, RT2))
      yield* attempt(basic.refresh(previous))
      yield* reply(echo("invalid_grant", RT))
      yield* attempt(basic.refresh(previous))
      // Rate limited twice (Retry-After in seconds, then as a date), then a server error page.
      yield* reply(
        echo("rate_limited", RT, 429, { "retry-after": "1" }),
        echo("temporarily_unavailable", RT, 503, { "retry-after": new Date(5_000).toUTCString() }),
        { status: 500, body: `<html><body>refresh_token=${RT}</body></html>` },
        echo("server_error", RT, 500)
      )
      yield* attempt(basic.refresh(previous))
      // A 2xx that does not decode, holding secrets in its fields.
      yield* reply(FakeHttp.json({ access_token: 5, refresh_token: RT, id_token: AT }))
      yield* attempt(basic.refresh(previous))
      // No answer: a timeout, then a refused connection.
      yield* reply(FakeHttp.never)
      yield* attempt(post.refresh(previous))
      yield* reply(FakeHttp.refused)
      yield* attempt(post.refresh(previous))

      // Authorization code with PKCE, through both entry points.
      yield* reply(echo("invalid_grant", `${CODE} ${VERIFIER}`))
      yield* attempt(basic.authorizationCode({
        code: Redacted.make(CODE),
        verifier: Redacted.make(VERIFIER),
        redirectUri: "https://app.example.com/callback"
      }))
      const request = {
        url: "https://auth.example.com/oauth/authorize",
        state: "state-1",
        verifier: Redacted.make(VERIFIER),
        redirectUri: "https://app.example.com/callback"
      }
      yield* reply(tokenReply(AT, RT))
      yield* attempt(basic.exchangeCode(request, `https://app.example.com/callback?code=${CODE}&state=state-1`))
      yield* attempt(basic.exchangeCode(request, `https://app.example.com/callback?code=${CODE}&state=forged`))
      yield* reply(echo("invalid_grant", CODE))
      yield* attempt(basic.exchangeCode(request, { code: CODE, state: "state-1" }))

      // The device flow: pending and slow_down quoting the device code, then expired_token.
      yield* reply(FakeHttp.json({
        device_code: DEVICE_CODE,
        user_code: "WDJB-MJHT",
        verification_uri: "https://auth.example.com/device",
        expires_in: 600
      }))
      const authorization = yield* attempt(basic.deviceAuthorization())
      assert.strictEqual(authorization._tag, "Right")
      if (authorization._tag === "Right") {
        yield* reply(
          echo("authorization_pending", DEVICE_CODE),
          echo("slow_down", DEVICE_CODE),
          echo("expired_token", DEVICE_CODE)
        )
        yield* attempt(basic.pollDeviceToken(authorization.right))
        yield* reply(tokenReply(AT, RT))
        yield* attempt(basic.pollDeviceToken(authorization.right))
      }
      yield* reply(echo("invalid_client", CLIENT_SECRET, 401))
      yield* attempt(post.deviceAuthorization())

      // Extension grants carrying secrets of their own.
      yield* reply(echo("invalid_request", `${AT} ${RT}`))
      yield* attempt(basic.tokenExchange({ subjectToken: Redacted.make(AT), actorToken: Redacted.make(RT) }))
      yield* reply(echo("invalid_grant", ASSERTION))
      yield* attempt(basic.jwtBearer(Redacted.make(ASSERTION)))
      yield* reply(echo("made_up_error", ASSERTION))
      yield* attempt(basic.grant("urn:example:grant", { ticket: Redacted.make(ASSERTION) }))

      // Revocation and introspection, with the token hint.
      yield* reply({ status: 200 }, echo("unsupported_token_type", RT))
      yield* attempt(basic.revoke(Redacted.make(AT), "access_token"))
      yield* attempt(basic.revoke(Redacted.make(RT), "refresh_token"))
      yield* reply(FakeHttp.json({ active: true, scope: "api:read" }), echo("invalid_request", AT))
      yield* attempt(basic.introspect(Redacted.make(AT), "access_token"))
      yield* attempt(basic.introspect(Redacted.make(AT)))

      // The secrets really went out, and really came back quoted: there was something to mask.
      const sent = server.requests.map((request) => `${request.headers["authorization"] ?? ""} ${request.body}`)
      assert.isTrue(sent.some((text) => text.includes(forms[2])))
      yield* capture.assertClean({
        spans: [
          "TokenEndpoint.clientCredentials",
          "TokenEndpoint.refresh",
          "TokenEndpoint.authorizationCode",
          "TokenEndpoint.exchangeCode",
          "TokenEndpoint.deviceAuthorization",
          "TokenEndpoint.pollDeviceToken",
          "TokenEndpoint.tokenExchange",
          "TokenEndpoint.jwtBearer",
          "TokenEndpoint.grant",
          "TokenEndpoint.revoke",
          "TokenEndpoint.introspect"
        ],
        shown: [
          "InvalidClient",
          "InvalidGrant",
          "ServerError",
          "MalformedResponse",
          "Timeout error",
          "ECONNREFUSED",
          "StateMismatch",
          "ExpiredToken",
          "UnknownOAuthError",
          "UnsupportedTokenType",
          "InvalidRequest",
          "rejected <redacted>"
        ]
      })
    }))
  })

  it.scoped("TokenManager and AuthorizedClient: failures, events and logs let no secret out", () => {
    const capture = makeCapture()
    return capture.run(Effect.gen(function*() {
      const tokenReplies: Array<FakeHttp.Reply> = []
      const reply = (...next: ReadonlyArray<FakeHttp.Reply>) => Effect.sync(() => tokenReplies.push(...next))
      // One fake for both hosts: the authorization server answers from the script; the resource server
      // quotes the token it was shown in its challenges.
      const server = FakeHttp.make((request) => {
        if (request.url.startsWith(Endpoint.issuer)) return tokenReplies.shift() ?? { status: 500 }
        const presented = (request.headers["authorization"] ?? "").replace(/^Bearer /, "")
        switch (new URL(request.url).pathname) {
          case "/always-401":
            return {
              status: 401,
              headers: {
                "www-authenticate": `Bearer error="invalid_token", error_description="${presented} expired"`
              }
            }
          case "/admin":
            return {
              status: 403,
              headers: {
                "www-authenticate":
                  `Bearer error="insufficient_scope", scope="admin", error_description="${presented} lacks admin"`
              }
            }
          case "/refused":
            return FakeHttp.refused
          default:
            return { status: 200, body: {} }
        }
      })
      const endpoint = yield* Endpoint.make(server, {
        clientSecret: Redacted.make(CLIENT_SECRET),
        backoff: { maxAttempts: 1 }
      })
      const store = yield* TokenStore.makeMemory
      const manager = yield* TokenManager.make({ backgroundRefresh: true, jitter: 0 }).pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      const events = yield* manager.subscribe
      const client = AuthorizedClient.authorize(server.client, manager, { key: "alice", origin: ORIGIN })
      const request = (path: string) =>
        Effect.either(client.get(`${ORIGIN}${path}`)).pipe(
          Effect.tap((result) => capture.show(result._tag === "Right" ? result.right.status : result.left))
        )

      yield* manager.set(
        "alice",
        Token.make({ access_token: Redacted.make(AT), refresh_token: Redacted.make(RT), expires_in: 60 }, 0)
      )
      assert.strictEqual((yield* request("/ok"))._tag, "Right")
      // A 401, a refresh, a second 401: InvalidToken, with the challenge that quoted the new token.
      yield* reply(tokenReply(AT2, RT2))
      const second = yield* request("/always-401")
      assert.strictEqual(second._tag === "Left" && second.left._tag, "InvalidToken")
      const scope = yield* request("/admin")
      assert.strictEqual(scope._tag === "Left" && scope.left._tag, "InsufficientScope")
      // The wrapped client's own transport failure passes through.
      const refused = yield* request("/refused")
      assert.strictEqual(refused._tag === "Left" && refused.left._tag, "RequestError")

      // Proactive refreshes in the background fail (quoting the refresh token): the valid token is kept.
      yield* reply(echo("server_error", RT2, 500), echo("rate_limited", RT2, 429, { "retry-after": "2" }))
      yield* TestClock.adjust("54 seconds")
      yield* TestClock.adjust("1 second")
      const kept = yield* manager.get("alice")
      assert.strictEqual(Redacted.value(kept.accessToken), AT2)
      capture.show(kept)
      // Then the grant dies: invalid_grant quoting the refresh token, the token removed, ReconnectRequired.
      yield* reply(echo("invalid_grant", RT2))
      yield* TestClock.adjust("5 seconds")
      const dead = yield* Effect.flip(manager.get("alice"))
      assert.strictEqual(dead._tag, "ReconnectRequired")
      capture.show(dead)
      capture.show(yield* request("/ok"))

      // A new login, a refused revocation quoting the token, then a revocation.
      yield* manager.set(
        "alice",
        Token.make({ access_token: Redacted.make(AT), refresh_token: Redacted.make(RT), expires_in: 3600 }, 60_000)
      )
      yield* reply(echo("unsupported_token_type", RT), { status: 200 })
      // The server refuses (quoting the token): the token is removed locally all the same.
      const refusal = yield* manager.revoke("alice")
      assert.strictEqual(refusal._tag, "Failed")
      capture.show(refusal)
      assert.strictEqual((yield* manager.revoke("alice"))._tag, "NoToken")

      const log = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      assert.includeMembers(log.map((event) => event._tag), [
        "Refreshed",
        "Rotated",
        "RefreshFailed",
        "ReconnectRequired",
        "Revoked"
      ])
      for (const event of log) capture.show(event)
      assert.isAbove(capture.logs.length, 0)
      yield* capture.assertClean({
        spans: ["TokenManager.refresh", "TokenManager.set", "TokenManager.revoke"],
        shown: ["InvalidToken", "InsufficientScope", "ReconnectRequired", "RefreshFailed", "<redacted> expired"]
      })
    }))
  })
})
