/**
 * The secret canary for keys: a client's private key (as JWK and PEM), a `client_secret_jwt` secret,
 * the assertions signed with them, and a DPoP key, through every operation against a server that
 * echoes what it was sent. No private key material, secret or assertion may appear in any error (however
 * printed), log, span or `inspect` output.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as Dpop from "@tokenfx/http/Dpop"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import { inspect } from "node:util"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

const SECRET = "c4n4ry~jwt-secret+9b/x-long-enough-for-hs256"

describe("Secrets: private keys", () => {
  it.effect("no private key, secret or assertion in errors, logs, spans or inspect", () =>
    Effect.gen(function*() {
      const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
      const jwk = yield* Effect.promise(() => jose.exportJWK(privateKey))
      const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
      const pemBody = pem.split("\n").filter((line) => line.length > 0 && !line.startsWith("-----"))
      const needles = new Set<string>([jwk.d!, SECRET, ...pemBody.map((line) => line.slice(8, 40))])

      const shown: Array<string> = []
      const logs: Array<string> = []
      const show = (value: unknown) => {
        shown.push(String(value), JSON.stringify(value) ?? "", inspect(value, { depth: 10 }))
        if (value instanceof Error) shown.push(value.message, Cause.pretty(Cause.fail(value)))
      }
      const recording = RecordingTracer.make()
      const logger = Logger.make(({ annotations, cause, message }) => {
        logs.push(
          [inspect(message, { depth: 10 }), ...HashMap.toEntries(annotations).map(([k, v]) => `${k}=${inspect(v)}`)]
            .join(" "),
          Cause.pretty(cause)
        )
      })

      // Every request refused with what it was sent quoted back: the assertion included.
      const server = FakeHttp.make((request) => {
        const assertion = request.form.get("client_assertion") ?? ""
        needles.add(assertion.split(".")[2] ?? "-")
        return FakeHttp.json({ error: "invalid_client", error_description: `bad assertion ${assertion}` }, 401, {
          "www-authenticate": `Basic error_description="${assertion}"`
        })
      })
      const attempt = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(Effect.either(effect))
          yield* TestClock.adjust("2 minutes")
          const result = yield* Fiber.join(fiber)
          show(result._tag === "Right" ? result.right : result.left)
        })
      const options = [
        { clientSecret: undefined, clientPrivateKey: Redacted.make(JSON.stringify(jwk)) },
        { clientSecret: undefined, clientPrivateKey: Redacted.make(pem) },
        { clientSecret: Redacted.make(SECRET), clientAuthentication: "client_secret_jwt" as const },
        // Keys that cannot be used: their import errors must not quote them either.
        { clientSecret: undefined, clientPrivateKey: Redacted.make(`{"kty":"EC","d":"${jwk.d}"`) },
        {
          clientSecret: undefined,
          clientPrivateKey: Redacted.make(pem.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\n!"))
        }
      ]
      const previous = Token.make({ access_token: Redacted.make("at-1"), refresh_token: Redacted.make("rt-1") }, 0)
      yield* Effect.gen(function*() {
        for (const overrides of options) {
          const endpoint = yield* Endpoint.make(server, { ...overrides, backoff: { maxAttempts: 1 } })
          show(endpoint)
          yield* attempt(endpoint.clientCredentials())
          yield* attempt(endpoint.refresh(previous))
          yield* attempt(endpoint.revoke(Redacted.make("at-1")))
          yield* attempt(endpoint.introspect(Redacted.make("at-1")))
          yield* Effect.logError("failed", overrides)
        }
        const dpop = yield* Dpop.fromPrivateKey(Redacted.make(JSON.stringify(jwk)))
        show(dpop)
        yield* Effect.logInfo(dpop)
        show(yield* Effect.flip(Dpop.fromPrivateKey(Redacted.make(`{"d":"${jwk.d}"`))))
      }).pipe(
        Effect.withTracer(recording.tracer),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )

      const spans = recording.spans.map((span) =>
        [
          span.name,
          ...[...span.attributes].map(([key, value]) => `${key}=${inspect(value, { depth: 10 })}`),
          span.status._tag === "Ended" && span.status.exit._tag === "Failure"
            ? Cause.pretty(span.status.exit.cause)
            : ""
        ].join(" ")
      )
      assert.isAbove(server.requests.length, 8)
      assert.isTrue(shown.some((text) => text.includes("InvalidClient")))
      assert.isTrue(shown.some((text) => text.includes("<redacted>")), "the echoes were there to mask")
      for (const [where, texts] of Object.entries({ shown, logs, spans })) {
        for (const text of texts) {
          for (const needle of needles) {
            if (needle.length >= 8) assert.notInclude(text, needle, `key material leaked into ${where}`)
          }
        }
      }
    }))
})
