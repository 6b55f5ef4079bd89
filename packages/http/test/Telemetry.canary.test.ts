/**
 * The secret canary over the metrics: access tokens, refresh tokens, the client secret (which a hostile
 * server quotes back) and a revocation's free-text reason all hold one known string, and the flows
 * that record every metric run (refresh, failures, a dead grant, 401 and 403 at a resource,
 * rate limiting, the reconnect warning, revocation). The canary must appear in no metric key,
 * label or description, no event, and no span name, attribute or event.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Telemetry from "@tokenfx/http/Telemetry"
import { TokenEndpoint } from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

const CANARY = "c4nary-Metr1cs"
const client = "canary"

describe("Telemetry: secret canary", () => {
  it.scoped("no metric, event or span holds a token, a secret, or a free-text reason", () =>
    Effect.gen(function*() {
      const { spans, tracer } = RecordingTracer.make()
      let issued = 0
      // Token requests answer, in turn, from this script; then fresh tokens.
      const script: Array<(request: FakeHttp.Recorded) => FakeHttp.Reply> = []
      const server = FakeHttp.make((request) => {
        if (request.url !== Endpoint.tokenUrl) return { status: 200 }
        const next = script.shift()
        if (next !== undefined) return next(request)
        issued += 1
        return FakeHttp.token({
          access_token: `${CANARY}-at-${issued}`,
          refresh_token: `${CANARY}-rt-${issued}`,
          expires_in: 60
        })
      })
      const endpoint = yield* Endpoint.make(server, {
        clientSecret: Redacted.make(`${CANARY}-secret`),
        clientLabel: client
      })
      const manager = yield* TokenManager.make({ clientLabel: client, reconnectWarning: "10 minutes" }).pipe(
        Effect.provide(TokenStore.layerMemory),
        Effect.provideService(TokenEndpoint, endpoint)
      )
      const events = yield* manager.subscribe
      const login = (key: string, fields: Record<string, unknown> = {}) =>
        Effect.flatMap(TestClock.currentTimeMillis, (now) =>
          manager.set(
            key,
            Token.make({
              access_token: Redacted.make(`${CANARY}-${key}-at`),
              token_type: "Bearer",
              expires_in: 60,
              refresh_token: Redacted.make(`${CANARY}-${key}-rt`),
              ...fields
            }, now)
          ))
      const resource = HttpClient.make((request, url) =>
        Effect.succeed(HttpClientResponse.fromWeb(
          request,
          new Response(`{"error":"invalid_token","token":"${request.headers["authorization"]}"}`, {
            status: Number(url.pathname.slice(1)),
            headers: {
              "www-authenticate": `Bearer error="invalid_token", error_description="${
                request.headers["authorization"]
              }"`
            }
          })
        ))
      )
      const http = AuthorizedClient.authorize(resource, manager, {
        key: "alice",
        origin: "https://api.example.com",
        clientLabel: client
      })
      const call = (status: number) =>
        Effect.exit(http.execute(HttpClientRequest.get(`https://api.example.com/${status}`)))
      // A hostile server quotes the refresh token presented and the client secret back.
      const echo =
        (error: string, status = 400, headers: Record<string, string> = {}) => (request: FakeHttp.Recorded) =>
          FakeHttp.json(
            {
              error,
              error_description: `${error}: ${request.form.get("refresh_token")} with ${CANARY}-secret`
            },
            status,
            headers
          )

      const flows = Effect.gen(function*() {
        yield* login("alice")
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* call(401)
        yield* call(403)
        // Failures whose descriptions quote the canary; a rate limit; then a dead grant.
        script.push(echo("server_error", 500), echo("invalid_client", 401))
        yield* TestClock.adjust("54 seconds")
        const failing = yield* Effect.fork(Effect.exit(manager.get("alice")))
        yield* TestClock.adjust("10 seconds")
        yield* Fiber.join(failing)
        script.push(echo("rate_limited", 429, { "retry-after": "1" }), echo("invalid_grant"))
        const dying = yield* Effect.fork(Effect.exit(manager.get("alice")))
        yield* TestClock.adjust("2 minutes")
        yield* Fiber.join(dying)
        // A refresh token that expires: the reconnect warning.
        yield* login("bob", { expires_in: 7200, refresh_token_expires_in: 3600 })
        yield* TestClock.adjust("55 minutes")
        yield* login("carol")
        yield* manager.revoke("carol", { reason: `${CANARY} asked us to` })
      })
      yield* Effect.withTracer(flows, tracer)

      const count = (metric: Metric.Metric.Counter<number>, extra: Record<string, string>) =>
        Effect.map(
          Metric.value(Metric.taggedWithLabels(metric, [
            Telemetry.clientLabel(client),
            ...Object.entries(extra).map(([key, value]) => MetricLabel.make(key, value))
          ])),
          (state) => state.count
        )
      // The flows really ran, with the canary on the wire.
      assert.isTrue(server.requests.some((request) => request.body.includes(encodeURIComponent(CANARY))))
      assert.deepStrictEqual(
        yield* Effect.all([
          count(Telemetry.resourceResponses, { status: "401" }),
          count(Telemetry.resourceResponses, { status: "403" }),
          count(Telemetry.refreshFailures, { error: "InvalidClient" }),
          count(Telemetry.clientAuthenticationFailures, { operation: "refresh" }),
          count(Telemetry.reconnectsRequired, { reason: "invalid_grant" }),
          count(Telemetry.reconnectsRequired, { reason: "refresh_token_expiring" }),
          count(Telemetry.revocations, { reason: "other" })
        ]),
        [2, 1, 1, 1, 1, 1, 1]
      )
      assert.isAbove(yield* count(Telemetry.rateLimitWaits, { operation: "refresh" }), 0)

      const metrics = (yield* Metric.snapshot).map((pair) =>
        Inspectable.format({
          name: pair.metricKey.name,
          description: pair.metricKey.description,
          tags: pair.metricKey.tags.map((tag) => [tag.key, tag.value]),
          state: pair.metricState
        })
      )
      const logged = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
      assert.isTrue(logged.some((event) => event._tag === "Revoked" && event.reason === "other"))
      const observed = [
        ...metrics,
        Inspectable.format(logged),
        JSON.stringify(logged),
        ...spans.map((span) =>
          Inspectable.format({
            name: span.name,
            attributes: Object.fromEntries(span.attributes),
            events: span.events
          })
        )
      ]
      assert.isAbove(spans.length, 0)
      for (const text of observed) assert.notInclude(text, CANARY)
      assert.notInclude(observed.join("\n"), encodeURIComponent(CANARY))
    }))
})
