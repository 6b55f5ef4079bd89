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
export * as OpenTelemetry from "./OpenTelemetry.js"
