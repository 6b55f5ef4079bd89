/**
 * What the demo needs besides tokenfx: a wire tap that counts what actually crossed the network (token
 * endpoint calls, 401s, 429s and the waits after them), timestamps, and the summary table.
 * It also reads tokenfx's own metrics (`Metric.snapshot`), from which the summary is drawn; the wire tap checks them.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricState from "effect/MetricState"

/** Counts by what crossed the wire, read by the demo's narration and its summary. */
export interface Wire {
  tokenEndpoint: string
  /** The issuer's key set, fetched to verify ID tokens: not an API call. */
  jwksUri: string
  tokenCalls: number
  /** Refresh requests sent, and those answered with a token. */
  refreshes: number
  refreshed: number
  apiCalls: number
  unauthorized: number
  rateLimited: number
  /** Time between a 429 from the token endpoint and the next request to it. */
  waitedMillis: number
  lastRateLimitAt: number | undefined
}

export const makeWire = (): Wire => ({
  tokenEndpoint: "",
  jwksUri: "",
  tokenCalls: 0,
  refreshes: 0,
  refreshed: 0,
  apiCalls: 0,
  unauthorized: 0,
  rateLimited: 0,
  waitedMillis: 0,
  lastRateLimitAt: undefined
})

const bodyText = (body: unknown): string => {
  if (typeof body !== "object" || body === null || !("body" in body)) return ""
  const bytes = (body as { readonly body: unknown }).body
  return bytes instanceof Uint8Array ? new TextDecoder().decode(bytes) : ""
}

/** Wraps the `HttpClient` in context so that every request and answer is counted in `wire`. */
export const tap = (wire: Wire) => {
  // Refreshes of one key never overlap (single flight): the next token endpoint answer is the refresh's.
  let refreshing = false
  return Layer.effect(
    HttpClient.HttpClient,
    Effect.map(HttpClient.HttpClient, (client) =>
      client.pipe(
        HttpClient.tapRequest((request) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (request.url === wire.tokenEndpoint) {
              wire.tokenCalls++
              if (bodyText(request.body).includes("grant_type=refresh_token")) {
                wire.refreshes++
                refreshing = true
              }
              if (wire.lastRateLimitAt !== undefined) {
                wire.waitedMillis += now - wire.lastRateLimitAt
                wire.lastRateLimitAt = undefined
              }
            } else if (!request.url.includes("/.well-known/") && request.url !== wire.jwksUri) {
              wire.apiCalls++
            }
          })
        ),
        HttpClient.tap((response) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (response.request.url === wire.tokenEndpoint) {
              if (refreshing && response.status === 200) wire.refreshed++
              refreshing = false
            }
            if (response.request.url === wire.tokenEndpoint && response.status === 429) {
              wire.rateLimited++
              wire.lastRateLimitAt = now
            } else if (response.request.url !== wire.tokenEndpoint && response.status === 401) {
              wire.unauthorized++
            }
          })
        )
      ))
  )
}

/** `[  3.21 s]` since `start`. */
export const stamp = (start: number) =>
  Effect.map(Clock.currentTimeMillis, (now) => `[${((now - start) / 1000).toFixed(2).padStart(6)} s]`)

/** A two-column table. */
export const table = (rows: ReadonlyArray<readonly [string, string]>): ReadonlyArray<string> => {
  const left = Math.max(...rows.map(([name]) => name.length))
  const right = Math.max(...rows.map(([, value]) => value.length))
  const rule = `+${"-".repeat(left + 2)}+${"-".repeat(right + 2)}+`
  return [
    rule,
    ...rows.map(([name, value]) => `| ${name.padEnd(left)} | ${value.padStart(right)} |`),
    rule
  ]
}

/** One tokenfx metric series: its name, its labels, and its count (a counter's, a histogram's) or value (a gauge's). */
export interface Reading {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
  /** A histogram's sum (milliseconds for tokenfx's timers). */
  readonly sum: number
}

/** Every `tokenfx_` series labelled `client`, read from the metric registry (`Metric.snapshot`). */
export const readMetrics = (client: string): Effect.Effect<ReadonlyArray<Reading>> =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.flatMap((pair): Array<Reading> => {
      const name = pair.metricKey.name
      const labels = Object.fromEntries(pair.metricKey.tags.map((label) => [label.key, label.value]))
      if (!name.startsWith("tokenfx_") || labels.client !== client) return []
      const state = pair.metricState
      if (MetricState.isCounterState(state)) return [{ name, labels, value: Number(state.count), sum: 0 }]
      if (MetricState.isGaugeState(state)) return [{ name, labels, value: Number(state.value), sum: 0 }]
      if (MetricState.isHistogramState(state)) return [{ name, labels, value: state.count, sum: state.sum }]
      return []
    }))

/**
 * `after` less `before`, series by series: what one run added to counters and histograms that live as long
 * as the process (gauges are kept as they are now).
 */
export const since = (before: ReadonlyArray<Reading>, after: ReadonlyArray<Reading>): ReadonlyArray<Reading> => {
  const id = (r: Reading) => `${r.name}${JSON.stringify(Object.entries(r.labels).sort())}`
  const previous = new Map(before.map((r) => [id(r), r]))
  return after.map((r) => {
    const old = previous.get(id(r))
    return old === undefined || r.name === "tokenfx_tokens_active" || r.name === "tokenfx_refresh_tokens_expiring"
      ? r
      : { ...r, value: r.value - old.value, sum: r.sum - old.sum }
  })
}
