/**
 * The tokenfx dashboard, once: each panel says which exported metric it charts and how (a gauge summed by
 * some labels, a counter's rate, a histogram's quantiles). From that one list come the Grafana dashboard
 * (`observability/grafana/tokenfx.json`, PromQL) and the PNG in the README (`dashboard-render.ts` evaluates
 * the same queries over scrapes of the Prometheus example), so that the two cannot tell different stories.
 *
 * The names are the ones OpenTelemetry's Prometheus exporter exposes (counters with `_total`, histograms as
 * `_bucket`/`_sum`/`_count`), checked against a real scrape by `examples/test/prometheus.test.ts`.
 */
import * as Path from "node:path"
import * as Url from "node:url"
import type { Sample } from "./prometheus.js"

/** Where the Grafana dashboard is committed. */
export const grafanaPath = Path.resolve(
  Path.dirname(Url.fileURLToPath(import.meta.url)),
  "../../observability/grafana/tokenfx.json"
)

/** How a panel reads its metric. */
export type Kind =
  /** A gauge, summed by `by`. */
  | "gauge"
  /** A counter's per-second rate, summed by `by`. */
  | "rate"
  /** A histogram's 50th, 95th and 99th percentiles (of the `_bucket` series), by `by`. */
  | "quantiles"

/** A panel: its title, what it shows, and the metric it charts. */
export interface Panel {
  readonly title: string
  readonly description: string
  readonly metric: string
  readonly kind: Kind
  readonly by: ReadonlyArray<string>
  /** Grafana's unit: `short` (a count), `ops` (per second), `ms`. */
  readonly unit: "short" | "ops" | "ms"
}

/** The panels, by row: every metric of the contract (see `@tokenfx/http/Telemetry`), each once. */
export const rows: ReadonlyArray<{ readonly title: string; readonly panels: ReadonlyArray<Panel> }> = [
  {
    title: "Tokens",
    panels: [
      {
        title: "Active tokens by state",
        description: "Keys held by the TokenManagers: fresh, in their refresh window, expired (refresh failing), dead",
        metric: "tokenfx_tokens_active",
        kind: "gauge",
        by: ["state"],
        unit: "short"
      },
      {
        title: "Refresh tokens expiring",
        description: "Keys whose refresh token expires within the reconnect-warning horizon: users to ask to log in",
        metric: "tokenfx_refresh_tokens_expiring",
        kind: "gauge",
        by: [],
        unit: "short"
      },
      {
        title: "Stored tokens by state",
        description: "Tokens in the shared TokenStore (every instance's), polled by StoreMetrics: fresh, due, expired",
        metric: "tokenfx_store_tokens",
        kind: "gauge",
        by: ["state"],
        unit: "short"
      },
      {
        title: "Refreshes",
        description: "Token refreshes that produced a new token, per second",
        metric: "tokenfx_token_refreshes_total",
        kind: "rate",
        by: [],
        unit: "ops"
      },
      {
        title: "Refresh latency",
        description: "From the grant presented to the token stored: p50, p95, p99",
        metric: "tokenfx_token_refresh_duration",
        kind: "quantiles",
        by: [],
        unit: "ms"
      },
      {
        title: "Refresh failures by error",
        description: "Failed refresh attempts, by error tag, per second",
        metric: "tokenfx_token_refresh_failures_total",
        kind: "rate",
        by: ["error"],
        unit: "ops"
      },
      {
        title: "Adoptions",
        description: "Tokens adopted from another instance's refresh instead of refreshing, per second",
        metric: "tokenfx_token_adoptions_total",
        kind: "rate",
        by: [],
        unit: "ops"
      },
      {
        title: "Reconnects required by reason",
        description: "Keys whose user must log in again, by reason, per second",
        metric: "tokenfx_reconnects_required_total",
        kind: "rate",
        by: ["reason"],
        unit: "ops"
      },
      {
        title: "Revocations by reason",
        description: "Tokens revoked, by reason, per second",
        metric: "tokenfx_revocations_total",
        kind: "rate",
        by: ["reason"],
        unit: "ops"
      }
    ]
  },
  {
    title: "Authorization server",
    panels: [
      {
        title: "Token endpoint requests by outcome",
        description: "Requests to the authorization server, by operation and outcome, per second",
        metric: "tokenfx_token_endpoint_requests_total",
        kind: "rate",
        by: ["operation", "outcome"],
        unit: "ops"
      },
      {
        title: "Token endpoint retries",
        description: "Requests retried after a transient failure, by operation, per second",
        metric: "tokenfx_token_endpoint_retries_total",
        kind: "rate",
        by: ["operation"],
        unit: "ops"
      },
      {
        title: "Token endpoint latency",
        description: "Latency of requests to the authorization server: p50, p95, p99",
        metric: "tokenfx_token_endpoint_request_duration",
        kind: "quantiles",
        by: [],
        unit: "ms"
      },
      {
        title: "Rate-limit waits",
        description: "Waits imposed by the authorization server (429, Retry-After), by operation, per second",
        metric: "tokenfx_rate_limit_waits_total",
        kind: "rate",
        by: ["operation"],
        unit: "ops"
      },
      {
        title: "Client authentication failures",
        description: "invalid_client answers: the client's credentials are wrong or expired, per second",
        metric: "tokenfx_client_authentication_failures_total",
        kind: "rate",
        by: ["operation"],
        unit: "ops"
      }
    ]
  },
  {
    title: "Resource servers",
    panels: [
      {
        title: "Resource 401 and 403",
        description: "401 and 403 answers seen by AuthorizedClient, by status, per second",
        metric: "tokenfx_resource_responses_total",
        kind: "rate",
        by: ["status"],
        unit: "ops"
      }
    ]
  }
]

/** Every panel, in order. */
export const panels: ReadonlyArray<Panel> = rows.flatMap((row) => row.panels)

export const quantiles = [0.5, 0.95, 0.99] as const

const selector = `{job=~"$job", client=~"$client"}`
const byClause = (labels: ReadonlyArray<string>) => labels.length === 0 ? "" : ` by (${labels.join(", ")})`

/** A panel's PromQL queries, with their legends. */
export const queries = (panel: Panel): ReadonlyArray<{ readonly expr: string; readonly legend: string }> => {
  const legend = panel.by.length === 0 ? panel.title : panel.by.map((label) => `{{${label}}}`).join(" ")
  switch (panel.kind) {
    case "gauge":
      return [{ expr: `sum${byClause(panel.by)} (${panel.metric}${selector})`, legend }]
    case "rate":
      return [{ expr: `sum${byClause(panel.by)} (rate(${panel.metric}${selector}[$__rate_interval]))`, legend }]
    case "quantiles":
      return quantiles.map((q) => ({
        expr: `histogram_quantile(${q}, sum${
          byClause(["le", ...panel.by])
        } (rate(${panel.metric}_bucket${selector}[$__rate_interval])))`,
        legend: `p${Math.round(q * 100)}`
      }))
  }
}

/** The names a scrape must hold for `panel`'s queries to find data. */
export const scrapedNames = (panel: Panel): ReadonlyArray<string> =>
  panel.kind === "quantiles"
    ? [`${panel.metric}_bucket`, `${panel.metric}_count`, `${panel.metric}_sum`]
    : [panel.metric]

const templateVariable = (name: string, label: string, query: string) => ({
  name,
  label,
  type: "query",
  datasource: { type: "prometheus", uid: "${datasource}" },
  definition: query,
  query: { query, refId: `${name}-variable` },
  refresh: 2,
  includeAll: true,
  multi: true,
  allValue: ".*",
  current: { selected: true, text: ["All"], value: ["$__all"] },
  sort: 1
})

/** The Grafana dashboard (schema 39): a row per group, three panels a row, a datasource, job and client picker. */
export const grafana = () => {
  let y = 0
  let id = 1
  const grafanaPanels: Array<unknown> = []
  for (const row of rows) {
    grafanaPanels.push({ id: id++, type: "row", title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y } })
    y += 1
    row.panels.forEach((panel, index) => {
      grafanaPanels.push({
        id: id++,
        type: "timeseries",
        title: panel.title,
        description: panel.description,
        datasource: { type: "prometheus", uid: "${datasource}" },
        gridPos: { h: 8, w: 8, x: (index % 3) * 8, y: y + Math.floor(index / 3) * 8 },
        fieldConfig: {
          defaults: {
            unit: panel.unit,
            min: 0,
            custom: { drawStyle: "line", lineWidth: 2, fillOpacity: 10, showPoints: "never" }
          },
          overrides: []
        },
        options: { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi", sort: "desc" } },
        targets: queries(panel).map((query, index) => ({
          refId: String.fromCharCode(65 + index),
          expr: query.expr,
          legendFormat: query.legend,
          datasource: { type: "prometheus", uid: "${datasource}" }
        }))
      })
    })
    y += Math.ceil(row.panels.length / 3) * 8
  }
  return {
    title: "tokenfx",
    uid: "tokenfx",
    description: "Token health of services built on tokenfx (metrics from @tokenfx/otel through Prometheus)",
    tags: ["tokenfx", "oauth"],
    editable: true,
    schemaVersion: 39,
    version: 1,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    timezone: "",
    templating: {
      list: [
        { name: "datasource", label: "Data source", type: "datasource", query: "prometheus", current: {} },
        templateVariable("job", "Job", "label_values(tokenfx_token_endpoint_requests_total, job)"),
        templateVariable("client", "Client", "label_values(tokenfx_token_endpoint_requests_total, client)")
      ]
    },
    annotations: { list: [] },
    panels: grafanaPanels
  }
}

/** The Grafana dashboard as committed: two-space JSON and a final newline. */
export const grafanaJson = (): string => `${JSON.stringify(grafana(), null, 2)}\n`

// --- the same queries, evaluated over scrapes (for the PNG) --------------------------------------------------

/** A scrape: its time in seconds and its samples. */
export interface Scrape {
  readonly at: number
  readonly samples: ReadonlyArray<Sample>
}

/** A point of a panel's series. */
export interface Point {
  readonly at: number
  readonly series: string
  readonly value: number
}

const groupKey = (sample: Sample, by: ReadonlyArray<string>) => by.map((label) => sample.labels[label] ?? "").join(" ")
const seriesKey = (sample: Sample) => JSON.stringify(Object.entries(sample.labels).sort())

// Per-second increase of every series of `name` between two scrapes (a series not yet there counts from 0).
const increases = (from: Scrape, to: Scrape, name: string): Array<{ sample: Sample; perSecond: number }> => {
  const before = new Map(from.samples.filter((s) => s.name === name).map((s) => [seriesKey(s), s.value]))
  return to.samples.filter((sample) => sample.name === name).map((sample) => ({
    sample,
    perSecond: Math.max(0, sample.value - (before.get(seriesKey(sample)) ?? 0)) / (to.at - from.at)
  }))
}

// Prometheus' histogram_quantile: linear interpolation inside the bucket that holds the rank.
const histogramQuantile = (q: number, buckets: ReadonlyArray<{ le: number; count: number }>): number | undefined => {
  const sorted = [...buckets].sort((a, b) => a.le - b.le)
  const total = sorted.at(-1)?.count ?? 0
  if (total <= 0) return undefined
  const rank = q * total
  let lower = 0
  let below = 0
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lower
      return lower + (bucket.le - lower) * ((rank - below) / Math.max(bucket.count - below, Number.EPSILON))
    }
    lower = bucket.le
    below = bucket.count
  }
  return lower
}

/** A panel's series over the scrapes: rates over `window` seconds, as Grafana would draw them. */
export const evaluate = (panel: Panel, scrapes: ReadonlyArray<Scrape>, window: number): ReadonlyArray<Point> => {
  const points: Array<Point> = []
  const legend = (key: string) => key === "" ? panel.title : key
  scrapes.forEach((scrape, index) => {
    const from = [...scrapes.slice(0, index)].reverse().find((earlier) => scrape.at - earlier.at >= window)
    if (panel.kind === "gauge") {
      const sums = new Map<string, number>()
      for (const sample of scrape.samples.filter((s) => s.name === panel.metric)) {
        sums.set(groupKey(sample, panel.by), (sums.get(groupKey(sample, panel.by)) ?? 0) + sample.value)
      }
      for (const [key, value] of sums) points.push({ at: scrape.at, series: legend(key), value })
      return
    }
    if (from === undefined) return
    if (panel.kind === "rate") {
      const sums = new Map<string, number>()
      for (const { perSecond, sample } of increases(from, scrape, panel.metric)) {
        sums.set(groupKey(sample, panel.by), (sums.get(groupKey(sample, panel.by)) ?? 0) + perSecond)
      }
      for (const [key, value] of sums) points.push({ at: scrape.at, series: legend(key), value })
      return
    }
    const groups = new Map<string, Map<number, number>>()
    for (const { perSecond, sample } of increases(from, scrape, `${panel.metric}_bucket`)) {
      const le = sample.labels["le"] === "+Inf" ? Infinity : Number(sample.labels["le"])
      const group = groups.get(groupKey(sample, panel.by)) ?? new Map<number, number>()
      group.set(le, (group.get(le) ?? 0) + perSecond)
      groups.set(groupKey(sample, panel.by), group)
    }
    for (const [key, group] of groups) {
      for (const q of quantiles) {
        const value = histogramQuantile(q, [...group].map(([le, count]) => ({ le, count })))
        const series = `${key === "" ? "" : `${key} `}p${Math.round(q * 100)}`
        if (value !== undefined) points.push({ at: scrape.at, series, value })
      }
    }
  })
  return points
}
