/**
 * Fuzzing every operation that reads an answer: 10,000 generated answers through `TokenEndpoint` (every
 * grant, revocation, introspection, the device flow, discovery) and 2,000 through `AuthorizedClient`,
 * from a generator of statuses, headers and bodies of every shape (truncated, nested, huge numbers,
 * `__proto__`, duplicate keys, non-UTF-8, empty, HTML, oversized, endless), plus the named cases of
 * issue 8. Each answer must end, on the `TestClock`, in a value or a typed error: never a defect, never
 * a hang, never more than the body cap read, never a secret in what is returned.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Discovery from "@tokenfx/http/Discovery"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import { login, makeServer, managerFor } from "./utils/authorizationServer.js"
import * as Endpoint from "./utils/endpoint.js"

// Samples, each a script of one to three answers; the answers actually served are counted.
const tokenRuns = Number(process.env.TOKENFX_FUZZ_TOKEN_RUNS ?? 10_000)
const minServed = Number(process.env.TOKENFX_FUZZ_MIN_SERVED ?? 10_000)
const resourceRuns = Number(process.env.TOKENFX_FUZZ_RESOURCE_RUNS ?? 2_000)
const maxBodySize = 64 * 1024
// Each run is given this long to finish once the clock has been moved far ahead.
const seed = Number(process.env.TOKENFX_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))

// What a generated answer is: a status, headers, and a body of some shape.
type Body =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Endless" }
  | { readonly _tag: "Oversized" }

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Body
}

const text = (text: string): Body => ({ _tag: "Text", text })

const secretWords = ["CANARY-secret-4f1e", "CANARY-refresh-4f1e", "CANARY-access-4f1e", "CANARY-device-4f1e"]

const codes = FastCheck.constantFrom(
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_token",
  "insufficient_scope",
  "access_denied",
  "authorization_pending",
  "slow_down",
  "expired_token",
  "rate_limited",
  "server_error",
  "temporarily_unavailable",
  "unsupported_token_type",
  "invalid_target",
  "__proto__",
  "constructor",
  "x".repeat(300)
)

const hugeNumber = FastCheck.constantFrom(
  "1e13",
  "1e308",
  "-1e308",
  "9".repeat(400),
  "0.0001",
  "-0",
  "1e-300",
  "9007199254740993",
  "123456789012345678901234567890"
)

const scalar: FastCheck.Arbitrary<string> = FastCheck.oneof(
  FastCheck.string().map((s) => JSON.stringify(s)),
  FastCheck.constantFrom(...secretWords).map((s) => JSON.stringify(s)),
  FastCheck.integer().map(String),
  FastCheck.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  hugeNumber,
  FastCheck.constantFrom("true", "false", "null", "{}", "[]", `{"__proto__":{"scope":{}}}`)
)

// A JSON object as text, with the members an answer may carry, duplicate keys and `__proto__` among them.
const member = FastCheck.tuple(
  FastCheck.constantFrom(
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_token_expires_in",
    "scope",
    "id_token",
    "error",
    "error_description",
    "error_uri",
    "active",
    "exp",
    "aud",
    "device_code",
    "user_code",
    "verification_uri",
    "verification_uri_complete",
    "interval",
    "issuer",
    "token_endpoint",
    "token_endpoint_auth_methods_supported",
    "__proto__",
    "constructor",
    "prototype"
  ),
  FastCheck.oneof(scalar, codes.map((c) => JSON.stringify(c)))
)

const object = FastCheck.array(member, { maxLength: 12 }).map((members) =>
  `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(",")}}`
)

// Answers that decode, so that the paths after decoding are exercised too.
const plausible = FastCheck.oneof(
  FastCheck.record({
    access_token: FastCheck.oneof(FastCheck.constant("CANARY-access-4f1e"), FastCheck.string()),
    token_type: FastCheck.constantFrom("Bearer", "bearer", "DPoP", "mac", ""),
    expires_in: FastCheck.oneof(FastCheck.nat(), FastCheck.constant(1e13), FastCheck.constant("3600")),
    refresh_token: FastCheck.constant("CANARY-refresh-4f1e"),
    scope: FastCheck.string()
  }, { requiredKeys: ["access_token"] }),
  FastCheck.record({
    device_code: FastCheck.constant("CANARY-device-4f1e"),
    user_code: FastCheck.string({ minLength: 1 }),
    verification_uri: FastCheck.constant("https://auth.example.com/device"),
    expires_in: FastCheck.oneof(FastCheck.nat(), FastCheck.constant(1e13), FastCheck.constant(1e300)),
    interval: FastCheck.oneof(FastCheck.constant("0.0001"), FastCheck.nat(), FastCheck.constant(1e300))
  }),
  FastCheck.record({ active: FastCheck.boolean(), scope: FastCheck.string(), exp: FastCheck.double() }),
  FastCheck.record({
    issuer: FastCheck.constant(Endpoint.issuer),
    token_endpoint: FastCheck.constantFrom(Endpoint.tokenUrl, "http://evil.localhost/token", "not a url")
  }),
  FastCheck.record({
    error: codes,
    error_description: FastCheck.oneof(
      FastCheck.constantFrom(...secretWords).map((s) => `echo ${s}`),
      FastCheck.string({ maxLength: 3_000 })
    )
  })
).map((value) => JSON.stringify(value))

const nested = FastCheck.tuple(FastCheck.integer({ min: 60, max: 5_000 }), FastCheck.constantFrom("[", "{\"a\":"))
  .map(([depth, open]) => open.repeat(depth) + "1" + (open === "[" ? "]" : "}").repeat(depth))

const body: FastCheck.Arbitrary<Body> = FastCheck.oneof(
  { weight: 4, arbitrary: plausible.map(text) },
  { weight: 3, arbitrary: object.map(text) },
  // Truncated JSON.
  { weight: 2, arbitrary: FastCheck.tuple(plausible, FastCheck.nat()).map(([t, n]) => text(t.slice(0, n % t.length))) },
  { weight: 1, arbitrary: nested.map(text) },
  { weight: 1, arbitrary: FastCheck.constantFrom("", " ", "null", "[]", "\"x\"", "1e999").map(text) },
  { weight: 1, arbitrary: FastCheck.constant(text("<html><body><h1>502 Bad Gateway</h1></body></html>")) },
  { weight: 1, arbitrary: FastCheck.string({ maxLength: 200 }).map(text) },
  {
    weight: 1,
    arbitrary: FastCheck.uint8Array({ maxLength: 200 }).map((bytes): Body => ({ _tag: "Bytes", bytes }))
  },
  { weight: 1, arbitrary: FastCheck.constantFrom<Body>({ _tag: "Endless" }, { _tag: "Oversized" }) }
)

const status = FastCheck.oneof(
  { weight: 5, arbitrary: FastCheck.constantFrom(200, 201, 204, 400, 401, 403, 429, 500, 502, 503) },
  { weight: 1, arbitrary: FastCheck.constantFrom(301, 302, 307, 308) },
  { weight: 2, arbitrary: FastCheck.integer({ min: 200, max: 599 }) }
)

const retryAfter = FastCheck.oneof(
  FastCheck.nat().map(String),
  hugeNumber,
  FastCheck.constantFrom("Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "soon", "-1", ""),
  FastCheck.date({ noInvalidDate: true }).map((d) => d.toUTCString())
)

const challenge = FastCheck.oneof(
  FastCheck.constantFrom(
    `Bearer error="invalid_token", error_description="CANARY-access-4f1e expired"`,
    `Bearer error="insufficient_scope", scope="admin"`,
    `Basic realm="x"`,
    `Bearer __proto__="x", error="invalid_token"`,
    `DPoP error="use_dpop_nonce"`,
    `Bearer error_description="${"y".repeat(5_000)}", error="invalid_token"`
  ),
  FastCheck.string({ maxLength: 100 })
)

const headers = FastCheck.record({
  "retry-after": retryAfter,
  "www-authenticate": challenge,
  "content-type": FastCheck.constantFrom("application/json", "text/html", "application/json; charset=latin1"),
  "location": FastCheck.constantFrom("https://evil.example/steal", "/same", "javascript:alert(1)"),
  "x-echo": FastCheck.constantFrom(...secretWords)
}, { requiredKeys: [] })

const answer: FastCheck.Arbitrary<Answer> = FastCheck.record({ status, headers, body })

const nullBody = new Set([101, 103, 204, 205, 304])

const oversized = new TextEncoder().encode(`{"access_token":"${"a".repeat(maxBodySize * 2)}"}`)

const sliceSize = 16 * 1024

// A body as a web stream in 16 KiB slices, counting the bytes pulled from it.
const webBody = (body: Body, pulled: { bytes: number; served: number }): ReadableStream<Uint8Array> => {
  const bytes = body._tag === "Text"
    ? new TextEncoder().encode(body.text)
    : body._tag === "Bytes"
    ? body.bytes
    : body._tag === "Oversized"
    ? oversized
    : undefined
  let offset = 0
  const endless = new Uint8Array(sliceSize).fill(0x5b)
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const slice = bytes === undefined ? endless : bytes.subarray(offset, offset + sliceSize)
      offset += slice.length
      if (slice.length === 0) return controller.close()
      pulled.bytes += slice.length
      controller.enqueue(slice)
    }
  })
}

// A client answering every request with `answers`, in turn (the last one repeated).
const scripted = (answers: ReadonlyArray<Answer>, pulled: { bytes: number; served: number }) => {
  let index = 0
  return HttpClient.make((request) =>
    Effect.sync(() => {
      pulled.served++
      const next = answers[Math.min(index++, answers.length - 1)]
      return HttpClientResponse.fromWeb(
        request,
        new Response(nullBody.has(next.status) ? null : webBody(next.body, pulled), {
          status: next.status,
          headers: next.headers
        })
      )
    })
  )
}

const operations = [
  "clientCredentials",
  "refresh",
  "revoke",
  "introspect",
  "deviceAuthorization",
  "pollDeviceToken",
  "grant",
  "tokenExchange",
  "jwtBearer",
  "authorizationCode",
  "exchangeCode",
  "discover",
  "discoverEndpoint"
] as const

type Operation = typeof operations[number]

const previous = new Token.Token({
  accessToken: Redacted.make("CANARY-access-4f1e"),
  tokenType: "Bearer",
  refreshToken: Redacted.make("CANARY-refresh-4f1e"),
  issuedAt: DateTime.unsafeMake(0),
  scopes: []
})

const run = (
  operation: Operation,
  client: HttpClient.HttpClient
): Effect.Effect<unknown, unknown> => {
  const options = {
    ...Endpoint.options,
    clientSecret: Redacted.make("CANARY-secret-4f1e"),
    maxBodySize,
    backoff: { maxAttempts: 2, jitter: 0 }
  }
  if (operation === "discover") {
    return Discovery.discover(Endpoint.issuer, { maxBodySize, backoff: { maxAttempts: 2 } }).pipe(
      Effect.provideService(HttpClient.HttpClient, client)
    )
  }
  if (operation === "discoverEndpoint") {
    return TokenEndpoint.discover({ ...options, issuer: Endpoint.issuer }).pipe(
      Effect.flatMap((endpoint) => endpoint.clientCredentials()),
      Effect.provideService(HttpClient.HttpClient, client)
    )
  }
  return Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.make(options)
    switch (operation) {
      case "clientCredentials":
        return yield* endpoint.clientCredentials({ scope: "a b" })
      case "refresh":
        return yield* endpoint.refresh(previous)
      case "revoke":
        return yield* endpoint.revoke(Redacted.make("CANARY-refresh-4f1e"), "refresh_token")
      case "introspect":
        return yield* endpoint.introspect(Redacted.make("CANARY-access-4f1e"))
      case "deviceAuthorization":
        return yield* endpoint.deviceAuthorization()
      case "pollDeviceToken":
        return yield* endpoint.pollDeviceToken({
          deviceCode: Redacted.make("CANARY-device-4f1e"),
          userCode: "U",
          verificationUri: "https://auth.example.com/device",
          expiresAt: DateTime.unsafeMake(600_000),
          interval: Duration.seconds(5)
        })
      case "grant":
        return yield* endpoint.grant("urn:example:grant", { secret: Redacted.make("CANARY-secret-4f1e") })
      case "tokenExchange":
        return yield* endpoint.tokenExchange({ subjectToken: Redacted.make("CANARY-access-4f1e") })
      case "jwtBearer":
        return yield* endpoint.jwtBearer(Redacted.make("CANARY-access-4f1e"))
      case "authorizationCode":
        return yield* endpoint.authorizationCode({
          code: Redacted.make("CANARY-secret-4f1e"),
          verifier: Redacted.make("CANARY-secret-4f1e-verifier-0123456789012345678901"),
          redirectUri: "http://127.0.0.1/callback"
        })
      case "exchangeCode": {
        const request = yield* endpoint.authorizationUrl({ redirectUri: "http://127.0.0.1/callback" })
        return yield* endpoint.exchangeCode(request, {
          code: "CANARY-secret-4f1e",
          state: request.state,
          iss: Endpoint.issuer
        })
      }
    }
  }).pipe(Effect.provideService(HttpClient.HttpClient, client))
}

// Runs `effect` on the TestClock, moving the clock far enough for any wait it may honour; it must
// be done afterwards (no hang) and end in a value or a typed failure (no defect).
const settle = <A, E>(effect: Effect.Effect<A, E>, label: () => string) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    // Bodies arrive through real promises: let them, then move the clock, until the fiber is done or
    // two days have passed on the clock (beyond any wait tokenfx may honour: device codes last a
    // day at most, cooldowns a minute).
    let exit = yield* Fiber.poll(fiber)
    for (let hours = 0; hours < 48 && Option.isNone(exit); hours++) {
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) break
      yield* TestClock.adjust(Duration.hours(1))
      exit = yield* Fiber.poll(fiber)
    }
    if (Option.isNone(exit)) {
      yield* Fiber.interrupt(fiber)
      assert.fail(`hung: ${label()}`)
    }
    const result = Option.getOrThrow(exit)
    if (Exit.isFailure(result)) {
      assert.isTrue(
        Option.isSome(Cause.failureOption(result.cause)),
        `defect: ${label()}\n${Cause.pretty(result.cause)}`
      )
    }
    return result
  })

// The secrets each operation's requests carry: a server may echo those, and they must be masked.
// (Discovery carries none: a server naming some other string is only saying a word.)
const sentSecrets: Record<Operation, ReadonlyArray<string>> = {
  clientCredentials: ["CANARY-secret-4f1e"],
  refresh: ["CANARY-secret-4f1e", "CANARY-refresh-4f1e"],
  revoke: ["CANARY-secret-4f1e", "CANARY-refresh-4f1e"],
  introspect: ["CANARY-secret-4f1e", "CANARY-access-4f1e"],
  deviceAuthorization: ["CANARY-secret-4f1e"],
  pollDeviceToken: ["CANARY-secret-4f1e", "CANARY-device-4f1e"],
  grant: ["CANARY-secret-4f1e"],
  tokenExchange: ["CANARY-secret-4f1e", "CANARY-access-4f1e"],
  jwtBearer: ["CANARY-secret-4f1e", "CANARY-access-4f1e"],
  authorizationCode: ["CANARY-secret-4f1e"],
  exchangeCode: ["CANARY-secret-4f1e"],
  discover: [],
  discoverEndpoint: []
}

const leaks = (value: unknown, secrets: ReadonlyArray<string>): ReadonlyArray<string> => {
  const shown = `${Util.inspect(value, { depth: 8 })} ${String(value)} ${safeStringify(value)}`
  return secrets.filter((word) => shown.includes(word))
}

const safeStringify = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? ""
  } catch {
    return ""
  }
}

describe("fuzz", () => {
  it.effect(
    `at least ${minServed} generated answers through every TokenEndpoint operation`,
    () =>
      Effect.gen(function*() {
        const samples = FastCheck.sample(
          FastCheck.tuple(
            FastCheck.constantFrom(...operations),
            FastCheck.array(answer, { minLength: 1, maxLength: 3 })
          ),
          { numRuns: tokenRuns, seed }
        )
        const seen = new Set<string>()
        let served = 0
        // Runs side by side on the one TestClock: each moves it on until it is done.
        yield* Effect.forEach(samples.entries(), ([index, [operation, answers]]) =>
          Effect.gen(function*() {
            const pulled = { bytes: 0, served: 0 }
            const label = () => `seed ${seed}, run ${index}: ${operation} ${Util.inspect(answers, { depth: 4 })}`
            const exit = yield* settle(run(operation, scripted(answers, pulled)), label)
            served += pulled.served
            // At most the cap (plus one slice) per request served.
            assert.isAtMost(pulled.bytes, pulled.served * (maxBodySize + 2 * sliceSize), label())
            if (Exit.isFailure(exit)) {
              const error = Option.getOrThrow(Cause.failureOption(exit.cause))
              seen.add((error as { readonly _tag: string })._tag)
              assert.deepStrictEqual(leaks(error, sentSecrets[operation]), [], label())
              if (OAuthError.isOAuthError(error)) assert.isString(error.message)
            } else if (Token.isToken(exit.value)) {
              seen.add("Token")
              // Its secrets stay Redacted (its other fields are whatever the server chose to say).
              const token = exit.value
              const own = [token.accessToken, token.refreshToken, token.idToken].flatMap((secret) =>
                secret === undefined || Redacted.value(secret).length < 8 ? [] : [Redacted.value(secret)]
              )
              const visible = [token.tokenType, ...token.scopes].join(" ")
              assert.deepStrictEqual(leaks(token, own.filter((secret) => !visible.includes(secret))), [], label())
            }
          }), { concurrency: 16, discard: true })
        assert.isAtLeast(served, minServed, `seed ${seed}: only ${served} answers served`)
        // The generator reaches the interesting outcomes, not only one kind of failure.
        for (const tag of ["Token", "MalformedResponse", "TransportError", "RateLimited", "InvalidGrant"]) {
          assert.isTrue(seen.has(tag), `seed ${seed}: no run ended in ${tag} (${[...seen].join(", ")})`)
        }
      }),
    { timeout: 240_000 }
  )

  it.scoped(`${resourceRuns} generated answers through AuthorizedClient`, () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { manager } = yield* managerFor(server)
      // Bounded bodies only: tokenfx never reads a resource server's body, but rendering a response
      // (`util.inspect`, as below) makes @effect/platform read it whole.
      const bounded = answer.filter((a) => a.body._tag !== "Endless" && a.body._tag !== "Oversized")
      const samples = FastCheck.sample(FastCheck.array(bounded, { minLength: 1, maxLength: 2 }), {
        numRuns: resourceRuns,
        seed
      })
      for (const [index, answers] of samples.entries()) {
        const token = yield* login(server)
        yield* manager.set("alice", token)
        const secret = Redacted.value(token.accessToken)
        const pulled = { bytes: 0, served: 0 }
        const client = AuthorizedClient.authorize(
          HttpClient.followRedirects(scripted(answers, pulled), 3),
          manager,
          { key: "alice", origin: "https://api.example.com" }
        )
        const label = () => `seed ${seed}, run ${index}: ${Util.inspect(answers, { depth: 4 })}`
        // tokenfx never reads a resource server's body: that is the caller's, to read as it likes.
        const exit = yield* settle(client.get("https://api.example.com/resource"), label)
        const outcome = Exit.isSuccess(exit) ? exit.value : Option.getOrThrow(Cause.failureOption(exit.cause))
        const shown = `${Util.inspect(outcome, { depth: 8 })} ${safeStringify(outcome)} ${String(outcome)}`
        assert.notInclude(shown, secret, label())
      }
    }), { timeout: 240_000 })
})
