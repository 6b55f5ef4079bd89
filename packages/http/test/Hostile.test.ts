/**
 * A hostile authorization server or resource server: each numbered defect of issue 8 on the HTTP side,
 * as a typed error (never a defect), a bounded read, a bounded wait, and no token left behind.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Discovery from "@tokenfx/http/Discovery"
import { TokenEndpoint } from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import { login, makeServer, managerFor as attach } from "./utils/authorizationServer.js"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels)

// The failure of an exit, asserting it is a failure and not a defect.
const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (Exit.isSuccess(exit)) throw new Error("unreachable")
  const failure = Cause.failureOption(exit.cause)
  assert.isTrue(Option.isSome(failure), `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return Option.getOrThrow(failure)
}

// A client whose every answer is `response(request)`.
const answering = (response: (request: HttpClientRequest.HttpClientRequest) => Response) =>
  HttpClient.make((request) => Effect.succeed(HttpClientResponse.fromWeb(request, response(request))))

// A body that never ends, counting what was pulled from it.
const endless = () => {
  const stats = { pulled: 0 }
  const chunk = new TextEncoder().encode(`{"access_token":"${"a".repeat(65_000)}`)
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      stats.pulled += chunk.length
      controller.enqueue(chunk)
    }
  })
  return { body, stats }
}

const withClient = (client: HttpClient.HttpClient, overrides: Parameters<typeof Endpoint.make>[1] = {}) =>
  Endpoint.make({ client, requests: [], layer: undefined as never }, { backoff: { maxAttempts: 1 }, ...overrides })

describe("hostile authorization server", () => {
  describe("1. defects from small inputs", () => {
    it.effect("a __proto__ member in a token response", () =>
      Effect.gen(function*() {
        for (const inner of [`{"scope":{}}`, `{"token_type":1}`, `{"refresh_token":{}}`, `{"id_token":[]}`]) {
          const server = FakeHttp.make([{ status: 200, body: `{"access_token":"a","__proto__":${inner}}` }])
          const endpoint = yield* Endpoint.make(server)
          const token = yield* endpoint.clientCredentials()
          assert.strictEqual(token.tokenType, "Bearer")
          assert.deepStrictEqual(token.scopes, [])
        }
      }))

    it.effect("a token with control or non-ASCII characters (RFC 6749 allows VSCHAR only) is a MalformedResponse", () =>
      Effect.gen(function*() {
        const canary = "tok-canary-5e0a"
        const answers = [
          { access_token: `${canary}\r\nX-Injected: 1` },
          { access_token: `${canary}\u0000` },
          { access_token: `${canary}\u202e` },
          { access_token: "at-1", refresh_token: `${canary}\n` },
          { access_token: "at-1", refresh_token: `${canary}\u00e9` }
        ]
        for (const answer of answers) {
          const server = FakeHttp.make([FakeHttp.json(answer)])
          const endpoint = yield* Endpoint.make(server)
          const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
          assert.strictEqual(error._tag, "MalformedResponse", JSON.stringify(Object.keys(answer)))
          assert.strictEqual(
            error._tag === "MalformedResponse" ? error.field : undefined,
            "refresh_token" in answer ? "refresh_token" : "access_token"
          )
          assert.notInclude(`${String(error)} ${JSON.stringify(error)} ${Util.inspect(error)}`, canary)
        }
        // A space is a VSCHAR: such a token is taken as it is.
        const server = FakeHttp.make([FakeHttp.json({ access_token: "at 1", refresh_token: "rt ~1" })])
        const token = yield* (yield* Endpoint.make(server)).clientCredentials()
        assert.strictEqual(Redacted.value(token.accessToken), "at 1")
      }))

    it.effect("a __proto__ member in device, introspection and discovery answers", () =>
      Effect.gen(function*() {
        const device = FakeHttp.make([{
          status: 200,
          body:
            `{"device_code":"dc-123456789","user_code":"U","verification_uri":"https://x","expires_in":600,"__proto__":{"interval":"x"}}`
        }])
        const authorization = yield* (yield* Endpoint.make(device)).deviceAuthorization()
        assert.strictEqual(Duration.toMillis(authorization.interval), 5_000)
        const introspection = FakeHttp.make([{ status: 200, body: `{"active":true,"__proto__":{"scope":{}}}` }])
        const result = yield* (yield* Endpoint.make(introspection)).introspect(Redacted.make("t"))
        assert.isUndefined(result.scope)
        const discovery = FakeHttp.make([{
          status: 200,
          body: `{"issuer":"${Endpoint.issuer}","__proto__":{"token_endpoint":{}}}`
        }])
        const metadata = yield* Discovery.discover(Endpoint.issuer).pipe(
          Effect.provideService(HttpClient.HttpClient, discovery.client)
        )
        assert.isUndefined(metadata.token_endpoint)
      }))

    it.effect("2,200 levels of [ in a 2xx body of every operation", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 200, body: deep(2_200) }])
        const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
        for (
          const run of [
            endpoint.clientCredentials(),
            endpoint.introspect(Redacted.make("t")),
            endpoint.deviceAuthorization()
          ] as const
        ) {
          const error = failureOf(yield* Effect.exit(run as Effect.Effect<unknown, { readonly _tag: string }>))
          assert.strictEqual(error._tag, "MalformedResponse")
        }
        const discovery = yield* Effect.exit(
          Discovery.discover(Endpoint.issuer, { backoff: { maxAttempts: 1 } }).pipe(
            Effect.provideService(HttpClient.HttpClient, server.client)
          )
        )
        assert.strictEqual(failureOf(discovery)._tag, "MalformedResponse")
      }))

    it.effect("a device authorization expires_in of 1e13 or more", () =>
      Effect.gen(function*() {
        for (const expires of ["1e13", "1e300", "10000000000000"]) {
          const server = FakeHttp.make([{
            status: 200,
            body:
              `{"device_code":"dc-123456789","user_code":"U","verification_uri":"https://x","expires_in":${expires}}`
          }])
          const exit = yield* Effect.exit((yield* Endpoint.make(server)).deviceAuthorization())
          if (Exit.isFailure(exit)) assert.strictEqual(failureOf(exit)._tag, "MalformedResponse")
        }
      }))

    it.effect("a Retry-After of 300 digits", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{
          status: 429,
          body: { error: "rate_limited" },
          headers: { "retry-after": "9".repeat(300) }
        }])
        const endpoint = yield* Endpoint.make(server)
        const exit = yield* Effect.exit(endpoint.clientCredentials())
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "RateLimited")
        assert.isString(String(error))
        if (Exit.isFailure(exit)) assert.isString(Cause.pretty(exit.cause))
      }))

    it.scoped("TokenManager.get survives a Retry-After of 300 digits", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{
          status: 503,
          body: { error: "temporarily_unavailable" },
          headers: { "retry-after": "9".repeat(300) }
        }])
        const endpoint = yield* Endpoint.make(server)
        const manager = yield* TokenManager.make().pipe(
          Effect.provide(TokenStore.layerMemory),
          Effect.provideService(TokenEndpoint, endpoint)
        )
        yield* manager.set(
          "k",
          new Token.Token({
            accessToken: Redacted.make("old-access"),
            tokenType: "Bearer",
            refreshToken: Redacted.make("old-refresh"),
            issuedAt: DateTime.unsafeMake(0),
            expiresAt: DateTime.unsafeMake(1),
            scopes: []
          })
        )
        // The still-valid token is served, or a typed error: never a defect.
        const exit = yield* Effect.exit(manager.get("k"))
        if (Exit.isFailure(exit)) failureOf(exit)
      }))
  })

  describe("2. bodies are capped", () => {
    it.effect("an endless token body is cut at the cap, typed", () =>
      Effect.gen(function*() {
        const { body, stats } = endless()
        const endpoint = yield* withClient(answering(() => new Response(body, { status: 200 })))
        const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.isBelow(stats.pulled, 2 * 1024 * 1024)
      }))

    it.effect("a token response over the configured cap is refused", () =>
      Effect.gen(function*() {
        const big = JSON.stringify({ access_token: "a", padding: "p".repeat(4_096) })
        const endpoint = yield* withClient(answering(() => new Response(big, { status: 200 })), {
          maxBodySize: 1_024
        })
        const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
        assert.strictEqual(error._tag, "MalformedResponse")
        const small = yield* withClient(answering(() => new Response(big, { status: 200 })))
        assert.isTrue(Token.isToken(yield* small.clientCredentials()))
      }))

    // Found by the fuzz test (seed 224409769): the key set fetched to verify an ID token was read up
    // to Jwks' own default of 1 MiB, whatever cap the endpoint was given.
    it.effect("the key set and metadata fetched to verify an ID token are cut at the endpoint's cap", () =>
      Effect.gen(function*() {
        const cap = 16 * 1024
        const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url")
        // A well-formed JWS, so that verifying it needs the issuer's keys.
        const signedLooking = [
          part({ alg: "RS256", kid: "k1" }),
          part({ iss: Endpoint.issuer, aud: Endpoint.clientId, sub: "alice", iat: 0, exp: 4_000_000_000 }),
          "c2ln"
        ].join(".")
        for (const jwks of [true, false]) {
          const { body, stats } = endless()
          const served: Array<string> = []
          const client = answering((request) => {
            served.push(new URL(request.url).pathname)
            return request.url === Endpoint.tokenUrl
              ? Response.json({ access_token: "at", token_type: "Bearer", id_token: signedLooking })
              : new Response(body, { status: 200 })
          })
          const endpoint = yield* withClient(client, {
            maxBodySize: cap,
            ...(jwks ? { jwksUri: `${Endpoint.issuer}/jwks` } : {})
          })
          const error = failureOf(
            yield* Effect.exit(endpoint.authorizationCode({
              code: Redacted.make("code"),
              verifier: Redacted.make("v".repeat(43)),
              redirectUri: "http://127.0.0.1/callback"
            }))
          )
          assert.strictEqual(error._tag, "MalformedResponse")
          assert.deepStrictEqual(served, ["/oauth/token", jwks ? "/jwks" : "/.well-known/openid-configuration"])
          // Past the cap: the 65,017-byte chunk that crossed it and the one the stream pulled ahead.
          assert.isAtMost(stats.pulled, cap + 2 * 65_017, `${jwks ? "key set" : "metadata"}: ${stats.pulled} bytes`)
        }
      }))

    it.effect("a 2 MiB discovery document is refused", () =>
      Effect.gen(function*() {
        const big = JSON.stringify({ issuer: Endpoint.issuer, padding: "p".repeat(2 * 1024 * 1024) })
        const exit = yield* Effect.exit(
          Discovery.discover(Endpoint.issuer, { backoff: { maxAttempts: 1 } }).pipe(
            Effect.provideService(HttpClient.HttpClient, answering(() => new Response(big, { status: 200 })))
          )
        )
        assert.strictEqual(failureOf(exit)._tag, "MalformedResponse")
      }))

    it.effect("an endless error body is cut and mapped by its status", () =>
      Effect.gen(function*() {
        const { body, stats } = endless()
        const endpoint = yield* withClient(answering(() => new Response(body, { status: 503 })))
        const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
        assert.strictEqual(error._tag, "TemporarilyUnavailable")
        assert.isBelow(stats.pulled, 2 * 1024 * 1024)
      }))

    it.effect("a long error_description is truncated in the error", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{
          status: 400,
          body: { error: "invalid_scope", error_description: "d".repeat(500_000) }
        }])
        const error = failureOf(yield* Effect.exit((yield* Endpoint.make(server)).clientCredentials()))
        assert.strictEqual(error._tag, "InvalidScope")
        assert.isBelow(String(error).length, 4_096)
      }))
  })

  describe("3. a huge Retry-After does not lock the endpoint out", () => {
    for (const retryAfter of ["1000000000", "Fri, 31 Dec 9999 23:59:59 GMT"]) {
      it.effect(`Retry-After: ${retryAfter}`, () =>
        Effect.gen(function*() {
          const server = FakeHttp.make((_, index) =>
            index === 0
              ? { status: 429, body: { error: "rate_limited" }, headers: { "retry-after": retryAfter } }
              : FakeHttp.token()
          )
          const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
          const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
          assert.strictEqual(error._tag, "RateLimited")
          // The server's value is reported as sent.
          assert.isAbove(
            Duration.toSeconds(error._tag === "RateLimited" ? error.retryAfter! : Duration.zero),
            999_999_999
          )
          // Within the cap, callers wait; after it, the endpoint is asked again.
          yield* TestClock.adjust(Duration.minutes(2))
          const token = yield* endpoint.clientCredentials()
          assert.isTrue(Token.isToken(token))
          assert.strictEqual(server.requests.length, 2)
        }))
    }

    it.effect("the cooldown cap is configurable", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make((_, index) =>
          index === 0
            ? { status: 503, body: { error: "temporarily_unavailable" }, headers: { "retry-after": "3600" } }
            : FakeHttp.token()
        )
        const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 }, maxCooldown: "10 seconds" })
        failureOf(yield* Effect.exit(endpoint.clientCredentials()))
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust(Duration.seconds(10))
        assert.isTrue(Token.isToken(yield* Fiber.join(fiber)))
      }))
  })

  describe("7. scrubbing", () => {
    it.effect("the bare base64 of the Basic credential and lower-case percent-encodings are masked", () =>
      Effect.gen(function*() {
        const form = (text: string) => new URLSearchParams({ v: text }).toString().slice(2)
        const basic = btoa(`${form(Endpoint.clientId)}:${form(Endpoint.secretText)}`)
        const lower = encodeURIComponent(Endpoint.secretText).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())
        for (const echo of [basic, lower]) {
          const server = FakeHttp.make([{
            status: 400,
            body: { error: "invalid_client", error_description: `bad credential ${echo}` }
          }])
          const error = failureOf(yield* Effect.exit((yield* Endpoint.make(server)).clientCredentials()))
          assert.notInclude(String(error), echo)
          assert.include(String(error), "<redacted>")
        }
      }))

    it.effect("response headers in http.client spans are only those known to be safe", () =>
      Effect.gen(function*() {
        const recording = RecordingTracer.make()
        const server = FakeHttp.make([{
          status: 200,
          body: { access_token: "at-echoed-123456", token_type: "Bearer" },
          headers: { "x-echo-token": "at-echoed-123456", "content-type": "application/json", "set-cookie": "s=1" }
        }])
        const endpoint = yield* Endpoint.make(server)
        yield* endpoint.clientCredentials().pipe(Effect.withTracer(recording.tracer))
        const attributes = recording.spans.flatMap((span) => [...span.attributes.entries()])
        const text = JSON.stringify(attributes)
        assert.notInclude(text, "at-echoed-123456")
        assert.notInclude(text, "s=1")
        assert.include(text, "http.response.header.content-type")
      }))
  })

  describe("8. device polling cannot spin", () => {
    it.effect("an interval of 0.0001 is floored", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make((request) =>
          request.url.endsWith("/device")
            ? {
              status: 200,
              body: {
                device_code: "dc-123456789",
                user_code: "U",
                verification_uri: "https://x",
                expires_in: 600,
                interval: "0.0001"
              }
            }
            : FakeHttp.oauthError("authorization_pending")
        )
        const endpoint = yield* Endpoint.make(server)
        const authorization = yield* endpoint.deviceAuthorization()
        assert.isAtLeast(Duration.toMillis(authorization.interval), 1_000)
        const fiber = yield* Effect.fork(endpoint.pollDeviceToken(authorization))
        yield* TestClock.adjust(Duration.seconds(10))
        yield* Fiber.interrupt(fiber)
        // The device request and at most one poll a second.
        assert.isAtMost(server.requests.length - 1, 10)
      }))

    // Retry-After 120 is past the endpoint's retry budget (1 minute): the endpoint answers RateLimited,
    // which once ended polling while the user could still approve.
    it.effect("a 429 beyond the retry budget is waited out, and polling goes on", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make((request, index) =>
          request.url.endsWith("/device")
            ? FakeHttp.json({ device_code: "dc-1", user_code: "U", verification_uri: "https://x", expires_in: 600 })
            : index === 1
            ? { status: 429, body: { error: "rate_limited" }, headers: { "retry-after": "120" } }
            : index === 2
            ? FakeHttp.oauthError("authorization_pending")
            : FakeHttp.token()
        )
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.pollDeviceToken(yield* endpoint.deviceAuthorization()))
        yield* TestClock.adjust("5 minutes")
        assert.isTrue(Token.isToken(yield* Fiber.join(fiber)))
        // Polls at 5 s, then 120 s later (10 s slower from then on), then 10 s after that.
        assert.deepStrictEqual(server.requests.map((request) => request.at), [0, 5_000, 125_000, 135_000])
      }))
  })

  describe("11. loopback", () => {
    it.effect("*.localhost is not loopback for plain HTTP", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        for (const url of ["http://evil.localhost/token", "http://localhost.evil.example/token"]) {
          const endpoint = yield* Endpoint.make(server, { tokenEndpoint: url })
          const error = failureOf(yield* Effect.exit(endpoint.clientCredentials()))
          assert.strictEqual(error._tag, "TransportError")
        }
        for (const url of ["http://localhost:8080/token", "http://127.0.0.2/token", "http://[::1]:9/token"]) {
          const endpoint = yield* Endpoint.make(server, { tokenEndpoint: url })
          assert.isTrue(Token.isToken(yield* endpoint.clientCredentials()))
        }
        assert.strictEqual(server.requests.length, 3)
      }))
  })
})

describe("hostile resource server", () => {
  const managerFor = Effect.gen(function*() {
    const server = yield* makeServer()
    const { manager } = yield* attach(server)
    const token = yield* login(server)
    yield* manager.set("alice", token)
    return { manager, token: Redacted.value(token.accessToken) }
  })

  describe("4. no token in what the user receives", () => {
    it.scoped("response.request carries no Authorization", () =>
      Effect.gen(function*() {
        const { manager, token } = yield* managerFor
        const client = AuthorizedClient.authorize(
          answering(() => new Response("{}", { status: 200 })),
          manager,
          { key: "alice", origin: "https://api.example.com" }
        )
        const response = yield* client.get("https://api.example.com/ok")
        assert.strictEqual(response.status, 200)
        assert.notInclude(Util.inspect(response, { depth: 10 }), token)
        assert.notInclude(JSON.stringify(response), token)
        assert.isUndefined(response.request.headers["authorization"])
      }))

    it.scoped("error.response.request carries no Authorization", () =>
      Effect.gen(function*() {
        const { manager, token } = yield* managerFor
        const client = AuthorizedClient.authorize(
          HttpClient.filterStatusOk(answering(() => new Response("{}", { status: 500 }))),
          manager,
          { key: "alice", origin: "https://api.example.com" }
        )
        const error = failureOf(yield* Effect.exit(client.get("https://api.example.com/ok")))
        assert.strictEqual(error._tag, "ResponseError")
        assert.notInclude(Util.inspect(error, { depth: 10 }), token)
        assert.notInclude(JSON.stringify(error), token)
        if (error._tag === "ResponseError") {
          assert.isUndefined(error.response.request.headers["authorization"])
          assert.notInclude(Util.inspect(error.response, { depth: 10 }), token)
        }
      }))
  })

  describe("6. a redirect-following wrapped client", () => {
    it.scoped("never sends the token to the redirect target", () =>
      Effect.gen(function*() {
        const { manager, token } = yield* managerFor
        const seen: Array<{ readonly url: string; readonly authorization: string | undefined }> = []
        const inner = HttpClient.make((request, url) => {
          seen.push({ url: url.toString(), authorization: request.headers["authorization"] })
          return Effect.succeed(HttpClientResponse.fromWeb(
            request,
            url.hostname === "api.example.com"
              ? new Response(null, { status: 302, headers: { location: "https://evil.example/steal" } })
              : new Response("{}", { status: 200 })
          ))
        })
        const client = AuthorizedClient.authorize(HttpClient.followRedirects(inner), manager, {
          key: "alice",
          origin: "https://api.example.com"
        })
        const exit = yield* Effect.exit(client.get("https://api.example.com/ok"))
        for (const request of seen) {
          if (!request.url.startsWith("https://api.example.com/")) {
            assert.isFalse(request.authorization?.includes(token) ?? false, `token sent to ${request.url}`)
          }
        }
        assert.strictEqual(failureOf(exit)._tag, "TransportError")
      }))
  })
})
