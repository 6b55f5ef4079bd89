/**
 * tokenfx's spans and metrics, out of the process through OpenTelemetry.
 *
 * Every `TokenManager`, `TokenEndpoint` and `AuthorizedClient` operation runs in a span (`TokenManager.refresh`,
 * `TokenEndpoint.refresh`, ...), and every metric tokenfx records is an Effect `Metric` named `tokenfx_*` (see
 * `@tokenfx/http/Telemetry`). This module hands both to the OpenTelemetry SDK through `@effect/opentelemetry`:
 * spans to a `SpanExporter` (batched), metrics to a push exporter read every `exportInterval` or to any
 * `MetricReader` (a pull reader such as `@opentelemetry/exporter-prometheus`'s `PrometheusExporter`).
 *
 * `layerOtlp` is the production wiring: OTLP over HTTP to a collector. `layer` takes any exporter, the
 * in-memory ones of the OpenTelemetry SDK in tests. On release (the end of the program), spans and metrics
 * still buffered are flushed, so a short-lived process (a CLI, a job) loses nothing.
 *
 * No secret reaches an exporter: tokenfx's spans and metric labels carry keys, operations, grant types,
 * outcomes and error tags, never a token or a client secret, and the `HttpClient`'s spans redact the
 * `Authorization` header. The exporters' own credentials (`headers`) are `Redacted` until they are handed
 * to the exporter.
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import type { MetricReader, PushMetricExporter } from "@opentelemetry/sdk-metrics"
import { PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Duration from "effect/Duration"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

/**
 * What to export, where, and as which service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `service.name` of every span and metric (`OTEL_SERVICE_NAME` overrides it). */
  readonly serviceName: string
  /** `service.version`. */
  readonly serviceVersion?: string | undefined
  /** More resource attributes (`deployment.environment`, ...); `OTEL_RESOURCE_ATTRIBUTES` is read too. */
  readonly attributes?: Readonly<Record<string, string>> | undefined
  /** Where spans go, in batches. Without one (and without `spanProcessor`), spans are not exported. */
  readonly spanExporter?: SpanExporter | undefined
  /** Span processors of your own, beside the batch processor of `spanExporter`. */
  readonly spanProcessors?: ReadonlyArray<SpanProcessor> | undefined
  /** Where metrics are pushed, every `exportInterval`. */
  readonly metricExporter?: PushMetricExporter | undefined
  /** Metric readers of your own: a pull reader such as `PrometheusExporter`, served on its own port. */
  readonly metricReaders?: ReadonlyArray<MetricReader> | undefined
  /** How often metrics are pushed to `metricExporter`. Default: 60 seconds (OpenTelemetry's default). */
  readonly exportInterval?: Duration.DurationInput | undefined
  /** How long the final flush on release may take. Default: 5 seconds. */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/**
 * Exports tokenfx's spans and metrics to the exporters in `options`, for as long as the layer lives. The
 * spans are those of the effects the layer is provided to (it installs the OpenTelemetry tracer), the rest of
 * your program's included; the metrics are every Effect `Metric` of the process (the registry is global), yours
 * included. Spans are batched; metrics are pushed to `metricExporter` every `exportInterval` and read by each
 * of `metricReaders` when it asks. Releasing the layer flushes both.
 *
 * @example
 * ```ts
 * import * as OpenTelemetry from "@tokenfx/otel/OpenTelemetry"
 * import { InMemoryMetricExporter, AggregationTemporality } from "@opentelemetry/sdk-metrics"
 * import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
 *
 * export const spans = new InMemorySpanExporter()
 * export const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
 * export const Telemetry = OpenTelemetry.layer({ serviceName: "billing", spanExporter: spans, metricExporter: metrics })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Resource.Resource> =>
  NodeSdk.layer(() => configuration(options, options.spanExporter, options.metricExporter))

// Built when the layer is, so that nothing (no exporter, no timer) exists before.
const configuration = (
  options: Omit<Options, "spanExporter" | "metricExporter">,
  spanExporter: SpanExporter | undefined,
  metricExporter: PushMetricExporter | undefined
): NodeSdk.Configuration => ({
  resource: {
    serviceName: options.serviceName,
    ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
    ...(options.attributes === undefined ? {} : { attributes: options.attributes })
  },
  spanProcessor: [
    ...(spanExporter === undefined ? [] : [new BatchSpanProcessor(spanExporter)]),
    ...(options.spanProcessors ?? [])
  ],
  metricReader: [
    ...(metricExporter === undefined ? [] : [
      new PeriodicExportingMetricReader({
        exporter: metricExporter,
        exportIntervalMillis: Math.max(1, Duration.toMillis(Duration.decode(options.exportInterval ?? "60 seconds")))
      })
    ]),
    ...(options.metricReaders ?? [])
  ],
  shutdownTimeout: options.shutdownTimeout ?? Duration.seconds(5)
})

/**
 * Where OTLP goes, and the rest of {@link Options} but the exporters.
 *
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions extends Omit<Options, "spanExporter" | "metricExporter"> {
  /**
   * The collector's base URL (`http://localhost:4318`): spans go to `/v1/traces`, metrics to `/v1/metrics`.
   * Default: the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
   * `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`), else `http://localhost:4318`.
   */
  readonly url?: string | undefined
  /** Headers sent with every export (a vendor's API key): `Redacted` ones are unwrapped only for the exporter. */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted<string>>> | undefined
  /** Export spans. Default: `true`. */
  readonly traces?: boolean | undefined
  /** Export metrics. Default: `true`. */
  readonly metrics?: boolean | undefined
}

const unwrap = (headers: Readonly<Record<string, string | Redacted.Redacted<string>>>): Record<string, string> =>
  Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, Redacted.isRedacted(value) ? Redacted.value(value) : value])
  )

const endpoint = (base: string | undefined, path: string): { readonly url?: string } =>
  base === undefined ? {} : { url: `${base.replace(/\/+$/, "")}${path}` }

/**
 * Exports tokenfx's spans and metrics with OTLP over HTTP (JSON, `@opentelemetry/exporter-*-otlp-http`) to an
 * OpenTelemetry Collector's HTTP receiver (port 4318) or any backend that takes OTLP/HTTP. Spans are batched,
 * metrics pushed every `exportInterval`; releasing the layer flushes both.
 *
 * @example
 * ```ts
 * import * as OpenTelemetry from "@tokenfx/otel/OpenTelemetry"
 * import * as Redacted from "effect/Redacted"
 *
 * export const Telemetry = OpenTelemetry.layerOtlp({
 *   serviceName: "billing",
 *   url: "http://otel-collector:4318",
 *   headers: { "x-api-key": Redacted.make(process.env.OTLP_API_KEY ?? "") },
 *   exportInterval: "15 seconds"
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<Resource.Resource> =>
  NodeSdk.layer(() => {
    const { headers: redacted, metrics, traces, url, ...rest } = options
    const headers = redacted === undefined ? {} : { headers: unwrap(redacted) }
    return configuration(
      rest,
      traces === false ? undefined : new OTLPTraceExporter({ ...endpoint(url, "/v1/traces"), ...headers }),
      metrics === false ? undefined : new OTLPMetricExporter({ ...endpoint(url, "/v1/metrics"), ...headers })
    )
  })
