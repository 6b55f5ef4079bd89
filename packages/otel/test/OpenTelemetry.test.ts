/**
 * The export, for real: tokenfx flows (a TokenManager over the in-memory AuthorizationServer, on TestClock)
 * run under `OpenTelemetry.layer` with OpenTelemetry's in-memory exporters, and what reaches the exporters is
 * read back: the TokenManager and TokenEndpoint spans, the `tokenfx_*` metrics with their labels and values,
 * and, serialized as OTLP/JSON (the bytes an OTLP exporter sends), no secret anywhere.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import type { HrTime } from "@opentelemetry/api"
import { JsonMetricsSerializer, JsonTraceSerializer } from "@opentelemetry/otlp-transformer"
import type { DataPoint, Histogram, MetricData, ResourceMetrics } from "@opentelemetry/sdk-metrics"
import { AggregationTemporality, DataPointType, InMemoryMetricExporter } from "@opentelemetry/sdk-metrics"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as OpenTelemetry from "@tokenfx/otel/OpenTelemetry"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { inspect } from "node:util"

const CANARY = "k9Anary~7d2e+4c/q:z"
const CLIENT_ID = "otel-client"
const CLIENT_SECRET = `${CANARY}-client-secret`
// Every form the secret takes on the wire: raw, percent- and form-encoded, inside the Basic credential.
const form = (text: string) => new URLSearchParams([["", text]]).toString().slice(1)
const CANARY_FORMS = [
  CANARY,
  encodeURIComponent(CANARY),
  form(CANARY),
  btoa(`${form(CLIENT_ID)}:${form(CLIENT_SECRET)}`)
]

// The SDK's in-memory span exporter forgets its spans when shut down; the layer shuts it down on release,
// after the final flush. This one keeps them, so that the flush itself is what the test reads.
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    this._stopped = true
    return Promise.resolve()
  }
}

const exporters = () => ({
  spans: new KeptSpans(),
  metrics: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
})

// The flow: a token stored, refreshed in its refresh window, a failed refresh (invalid_client) that serves
// the still-valid token, and a revocation. Answers every token value it saw, for the canary.
const flow = Effect.gen(function*() {
  const server = yield* AuthorizationServer.make({
    clients: [{ clientId: CLIENT_ID, clientSecret: Redacted.make(CLIENT_SECRET) }],
    accessTokenTtl: "1 hour"
  })
  const endpoint = yield* TokenEndpoint.make({
    tokenEndpoint: server.tokenEndpoint,
    revocationEndpoint: server.revocationEndpoint,
    clientId: CLIENT_ID,
    clientSecret: Redacted.make(CLIENT_SECRET)
  }).pipe(Effect.provideService(HttpClient.HttpClient, server.httpClient))
  const manager = yield* TokenManager.make().pipe(
    Effect.provideService(TokenStore.TokenStore, yield* TokenStore.makeMemory),
    Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
  )
  const issued = yield* server.issueToken({ clientId: CLIENT_ID, subject: "alice" })
  yield* manager.set("alice", issued)
  yield* TestClock.adjust("58 minutes")
  const refreshed = yield* manager.get("alice")
  assert.notStrictEqual(Redacted.value(refreshed.accessToken), Redacted.value(issued.accessToken))
  yield* TestClock.adjust("58 minutes")
  yield* server.failNext(1, { status: 401, body: { error: "invalid_client" } })
  const served = yield* manager.get("alice")
  assert.strictEqual(Redacted.value(served.accessToken), Redacted.value(refreshed.accessToken))
  const revocation = yield* manager.revoke("alice", { reason: "suspicious_activity" })
  assert.strictEqual(revocation._tag, "Revoked")
  return [issued, refreshed].flatMap((token) => [
    Redacted.value(token.accessToken),
    ...(token.refreshToken === undefined ? [] : [Redacted.value(token.refreshToken)])
  ])
}).pipe(Effect.scoped)

const counterValue = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)

const decoder = new TextDecoder()
const otlpJson = (spans: ReadonlyArray<ReadableSpan>, metrics: ReadonlyArray<ResourceMetrics>) => [
  decoder.decode(JsonTraceSerializer.serializeRequest([...spans])),
  ...metrics.map((resourceMetrics) => decoder.decode(JsonMetricsSerializer.serializeRequest(resourceMetrics))),
  ...spans.map((span) => inspect(span, { depth: 8 })),
  ...metrics.map((resourceMetrics) => inspect(resourceMetrics, { depth: 12 }))
]

const exported = (metrics: ReadonlyArray<ResourceMetrics>, name: string): MetricData | undefined =>
  metrics.at(-1)?.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === name)

const pointWith = <T>(metric: MetricData | undefined, attributes: Record<string, string>) =>
  (metric?.dataPoints as ReadonlyArray<DataPoint<T>> | undefined)?.find((point) =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value)
  )

const sum = (metric: MetricData | undefined) =>
  (metric?.dataPoints as ReadonlyArray<DataPoint<number>> | undefined)?.reduce((total, point) => total + point.value, 0)

const seconds = (time: HrTime) => time[0] + time[1] / 1e9

describe("OpenTelemetry.layer", () => {
  it.effect("exports the TokenManager's spans and the tokenfx_ metrics of a real flow, flushed on release", () =>
    Effect.gen(function*() {
      const before = {
        refreshes: yield* counterValue(Telemetry.refreshes),
        revocations: yield* counterValue(
          Metric.tagged(Metric.tagged(Telemetry.revocations, "client", "default"), "reason", "suspicious_activity")
        ),
        failures: yield* counterValue(Telemetry.refreshFailures)
      }
      const { metrics, spans } = exporters()
      const tokens = yield* flow.pipe(
        Effect.provide(OpenTelemetry.layer({
          serviceName: "otel-test",
          serviceVersion: "1.2.3",
          spanExporter: spans,
          metricExporter: metrics
        }))
      )
      assert.isAbove(tokens.length, 2)

      // Spans: the manager's and the endpoint's, on the service's resource, parented as they ran.
      const finished = spans.getFinishedSpans()
      const names = finished.map((span) => span.name)
      for (const name of ["TokenManager.set", "TokenManager.refresh", "TokenManager.revoke", "TokenEndpoint.refresh"]) {
        assert.include(names, name)
      }
      const revoke = finished.find((span) => span.name === "TokenManager.revoke")!
      assert.strictEqual(revoke.attributes["tokenfx.revocation.reason"], "suspicious_activity")
      const refresh = finished.find((span) => span.name === "TokenManager.refresh")!
      assert.strictEqual(refresh.attributes["tokenfx.key"], "alice")
      assert.strictEqual(refresh.resource.attributes["service.name"], "otel-test")
      assert.strictEqual(refresh.resource.attributes["service.version"], "1.2.3")
      const endpointCalls = finished.filter((span) => span.name === "TokenEndpoint.refresh")
      assert.strictEqual(endpointCalls.length, 2)
      assert.isTrue(
        endpointCalls.every((call) => call.parentSpanContext?.spanId !== undefined),
        "TokenEndpoint.refresh runs inside a TokenManager.refresh span"
      )
      const refreshIds = new Set(
        finished.filter((span) => span.name === "TokenManager.refresh").map((span) => span.spanContext().spanId)
      )
      assert.isTrue(endpointCalls.every((call) => refreshIds.has(call.parentSpanContext!.spanId)))
      // A failed call's span says so (status ERROR), without the error's secret-free text being required here.
      assert.isTrue(endpointCalls.some((call) => call.status.code === 2))
      // Time comes from Effect's Clock (TestClock here): the second refresh began 116 minutes in.
      assert.strictEqual(Math.round(seconds(endpointCalls.at(-1)!.startTime)), 116 * 60)

      // Metrics: pushed once, by the final flush on release, with what the flow recorded.
      const pushed = metrics.getMetrics()
      assert.isAbove(pushed.length, 0)
      assert.strictEqual(pushed.at(-1)!.resource.attributes["service.name"], "otel-test")
      const refreshes = exported(pushed, "tokenfx_token_refreshes")
      assert.strictEqual(refreshes?.dataPointType, DataPointType.SUM)
      assert.strictEqual(sum(refreshes), before.refreshes + 1)
      assert.strictEqual(sum(exported(pushed, "tokenfx_token_refresh_failures")), before.failures + 1)
      const requests = exported(pushed, "tokenfx_token_endpoint_requests_total")
      const refreshTokenGrant = { operation: "refresh", grant_type: "refresh_token" }
      assert.isAtLeast(pointWith<number>(requests, { ...refreshTokenGrant, outcome: "success" })?.value ?? 0, 1)
      assert.isAtLeast(pointWith<number>(requests, { ...refreshTokenGrant, outcome: "invalid_client" })?.value ?? 0, 1)
      assert.isAtLeast(pointWith<number>(requests, { operation: "revoke", outcome: "success" })?.value ?? 0, 1)
      const duration = exported(pushed, "tokenfx_token_endpoint_request_duration")
      assert.strictEqual(duration?.dataPointType, DataPointType.HISTOGRAM)
      const latency = pointWith<Histogram>(duration, refreshTokenGrant)
      assert.isAtLeast(latency?.value.count ?? 0, 2)
      assert.deepStrictEqual(
        latency?.value.buckets.boundaries,
        [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
      )

      // The token-health metrics of the flow, with their labels.
      assert.strictEqual(
        pointWith<number>(exported(pushed, "tokenfx_revocations"), { reason: "suspicious_activity", client: "default" })
          ?.value,
        before.revocations + 1
      )
      assert.isAtLeast(
        pointWith<number>(exported(pushed, "tokenfx_client_authentication_failures"), { operation: "refresh" })
          ?.value ??
          0,
        1
      )
      assert.isAtLeast(
        pointWith<number>(exported(pushed, "tokenfx_token_refresh_failures"), { error: "InvalidClient" })?.value ?? 0,
        1
      )
      const refreshDuration = exported(pushed, "tokenfx_token_refresh_duration")
      assert.strictEqual(refreshDuration?.dataPointType, DataPointType.HISTOGRAM)
      assert.isAtLeast(pointWith<Histogram>(refreshDuration, {})?.value.count ?? 0, 2)
      const active = exported(pushed, "tokenfx_tokens_active")
      assert.strictEqual(active?.dataPointType, DataPointType.GAUGE)
      assert.includeMembers(
        ["fresh", "refresh_window", "expired", "dead"],
        (active?.dataPoints ?? []).map((point) => String(point.attributes["state"]))
      )

      // The canary: nothing exported, as OTLP/JSON or as objects, holds a secret.
      const everything = otlpJson(finished, pushed)
      assert.isTrue(everything.some((text) => text.includes("tokenfx_token_refreshes")))
      assert.isTrue(everything.some((text) => text.includes("TokenManager.refresh")))
      for (const text of everything) {
        for (const secret of [...CANARY_FORMS, ...tokens]) {
          assert.notInclude(text, secret)
        }
      }
    }))

  it.effect("exports nothing before the layer is built, and the exporters are optional", () =>
    Effect.gen(function*() {
      const { metrics, spans } = exporters()
      const telemetry = OpenTelemetry.layer({ serviceName: "otel-test", spanExporter: spans, metricExporter: metrics })
      assert.strictEqual(spans.getFinishedSpans().length, 0)
      assert.strictEqual(metrics.getMetrics().length, 0)
      yield* Effect.void.pipe(Effect.withSpan("outside"))
      yield* Effect.void.pipe(Effect.withSpan("inside"), Effect.provide(telemetry))
      assert.deepStrictEqual(spans.getFinishedSpans().map((span) => span.name), ["inside"])
      // No exporter at all: a valid layer that exports nothing.
      yield* Effect.void.pipe(Effect.withSpan("nowhere"), Effect.provide(OpenTelemetry.layer({ serviceName: "none" })))
      assert.deepStrictEqual(spans.getFinishedSpans().map((span) => span.name), ["inside"])
    }))
})

// A collector's OTLP/HTTP receiver on 127.0.0.1: what arrived, by path, with its headers.
interface Received {
  readonly path: string
  readonly apiKey: string
  readonly body: string
}
const collector = Effect.map(
  Effect.acquireRelease(
    Effect.async<{ readonly server: Http.Server; readonly received: Array<Received> }>((resume) => {
      const received: Array<Received> = []
      const server = Http.createServer((request, response) => {
        let body = ""
        request.setEncoding("utf8")
        request.on("data", (chunk: string) => (body += chunk))
        request.on("end", () => {
          received.push({ path: request.url ?? "", apiKey: String(request.headers["x-api-key"]), body })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, received })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  ),
  ({ received, server }) => ({ received, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
)

describe("OpenTelemetry.layer, live", () => {
  it.live("pushes metrics every exportInterval while the layer lives", () =>
    Effect.gen(function*() {
      const { metrics } = exporters()
      const pushed = yield* Effect.gen(function*() {
        yield* Metric.increment(Telemetry.adoptions)
        yield* Effect.sleep("400 millis")
        return metrics.getMetrics().length
      }).pipe(
        Effect.provide(
          OpenTelemetry.layer({ serviceName: "otel-test", metricExporter: metrics, exportInterval: "50 millis" })
        )
      )
      assert.isAtLeast(pushed, 2)
      assert.isDefined(exported(metrics.getMetrics(), "tokenfx_token_adoptions"))
    }))
})

describe("OpenTelemetry.layerOtlp", () => {
  it.live("sends spans to /v1/traces and metrics to /v1/metrics of the collector, with the Redacted headers", () =>
    Effect.gen(function*() {
      const { received, url } = yield* collector
      yield* Effect.gen(function*() {
        yield* Metric.increment(Telemetry.adoptions)
        yield* Effect.void.pipe(Effect.withSpan("TokenManager.refresh", { attributes: { "tokenfx.key": "bob" } }))
      }).pipe(Effect.provide(OpenTelemetry.layerOtlp({
        serviceName: "otlp-test",
        url: `${url}/`,
        headers: { "x-api-key": Redacted.make("collector-key") }
      })))
      const traces = received.filter((request) => request.path === "/v1/traces")
      const metrics = received.filter((request) => request.path === "/v1/metrics")
      assert.strictEqual(traces.length, 1)
      assert.isAtLeast(metrics.length, 1)
      assert.deepStrictEqual([...new Set(received.map((request) => request.apiKey))], ["collector-key"])
      const spans = JSON.parse(traces[0]!.body)
      const span = spans.resourceSpans[0].scopeSpans[0].spans[0]
      assert.strictEqual(span.name, "TokenManager.refresh")
      assert.deepStrictEqual(span.attributes, [{ key: "tokenfx.key", value: { stringValue: "bob" } }])
      const names = metrics.flatMap((request) =>
        JSON.parse(request.body).resourceMetrics.flatMap((
          resource: { scopeMetrics: Array<{ metrics: Array<{ name: string }> }> }
        ) => resource.scopeMetrics.flatMap((scope) => scope.metrics.map((metric) => metric.name)))
      )
      assert.include(names, "tokenfx_token_adoptions")
    }).pipe(Effect.scoped))

  it.live("without a url, the standard OTEL_EXPORTER_OTLP_ENDPOINT says where", () =>
    Effect.gen(function*() {
      const { received, url } = yield* collector
      const previous = process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
      yield* Effect.acquireRelease(
        Effect.sync(() => (process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url)),
        () =>
          Effect.sync(() => {
            if (previous === undefined) delete process.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            else process.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = previous
          })
      )
      yield* Effect.void.pipe(
        Effect.withSpan("TokenManager.set"),
        Effect.provide(OpenTelemetry.layerOtlp({ serviceName: "otlp-test", metrics: false }))
      )
      assert.deepStrictEqual(received.map((request) => request.path), ["/v1/traces"])
    }).pipe(Effect.scoped))

  it.live("traces: false and metrics: false send nothing", () =>
    Effect.gen(function*() {
      const { received, url } = yield* collector
      yield* Effect.void.pipe(
        Effect.withSpan("quiet"),
        Effect.provide(OpenTelemetry.layerOtlp({ serviceName: "otlp-test", url, traces: false, metrics: false }))
      )
      assert.deepStrictEqual(received, [])
    }).pipe(Effect.scoped))
})
