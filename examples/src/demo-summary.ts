/**
 * The demo's summary, drawn from tokenfx's metrics (the `Telemetry` module's), and its check against what
 * the wire tap counted: the two must agree, or the demo says so.
 */
import type * as Support from "./demo-support.js"

/** What the metrics counted in one run. */
export interface Summary {
  /** Token requests (those with a grant type). */
  readonly requests: number
  readonly requestsByOutcome: ReadonlyArray<readonly [string, number]>
  readonly refreshRequests: number
  /** Other requests to the authorization server (revocation, ...), by operation. */
  readonly otherRequests: ReadonlyArray<readonly [string, number]>
  readonly refreshes: number
  readonly refreshMillis: number
  readonly unauthorized: number
  readonly rateLimited: number
  readonly rateLimitWaits: number
  readonly rateLimitWaitsByOperation: ReadonlyArray<readonly [string, number]>
  readonly reconnects: number
  readonly reconnectsByReason: ReadonlyArray<readonly [string, number]>
  readonly held: ReadonlyArray<readonly [string, number]>
}

/** Reads the summary from the metric series of one run (see `Support.since`). */
export const fromMetrics = (metrics: ReadonlyArray<Support.Reading>): Summary => {
  const sum = (name: string, where: Readonly<Record<string, string>> = {}) =>
    metrics.filter((r) => r.name === name && Object.entries(where).every(([k, v]) => r.labels[k] === v))
  const count = (name: string, where?: Readonly<Record<string, string>>) =>
    sum(name, where).reduce((n, r) => n + r.value, 0)
  const by = (name: string, label: string, keep: (r: Support.Reading) => boolean = () => true) => {
    const sums = new Map<string, number>()
    for (const r of sum(name).filter(keep)) {
      const value = r.labels[label]
      if (value !== undefined) sums.set(value, (sums.get(value) ?? 0) + r.value)
    }
    return Array.from(sums).filter(([, n]) => n !== 0).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  }
  const isToken = (r: Support.Reading) => r.labels.grant_type !== undefined
  const refreshes = count("tokenfx_token_refresh_duration")
  const refreshMillis = sum("tokenfx_token_refresh_duration").reduce((n, r) => n + r.sum, 0)
  return {
    requests: sum("tokenfx_token_endpoint_requests_total").filter(isToken).reduce((n, r) => n + r.value, 0),
    requestsByOutcome: by("tokenfx_token_endpoint_requests_total", "outcome", isToken),
    otherRequests: by("tokenfx_token_endpoint_requests_total", "operation", (r) => !isToken(r)),
    refreshRequests: count("tokenfx_token_endpoint_requests_total", { grant_type: "refresh_token" }),
    refreshes: count("tokenfx_token_refreshes"),
    refreshMillis: refreshes === 0 ? 0 : refreshMillis / refreshes,
    unauthorized: count("tokenfx_resource_responses", { status: "401" }),
    rateLimited: count("tokenfx_token_endpoint_requests_total", { outcome: "rate_limited" }),
    rateLimitWaits: count("tokenfx_rate_limit_waits"),
    rateLimitWaitsByOperation: by("tokenfx_rate_limit_waits", "operation"),
    reconnects: count("tokenfx_reconnects_required"),
    reconnectsByReason: by("tokenfx_reconnects_required", "reason"),
    held: by("tokenfx_tokens_active", "state")
  }
}

/** Where the metrics and the wire tap disagree (nothing when they agree). */
export const check = (summary: Summary, wire: Support.Wire): ReadonlyArray<string> => {
  const disagreements: Array<string> = []
  const compare = (what: string, metric: number, wired: number) => {
    if (metric !== wired) disagreements.push(`${what}: ${metric} in the metrics, ${wired} on the wire`)
  }
  compare("token requests", summary.requests, wire.tokenCalls)
  compare("refresh requests", summary.refreshRequests, wire.refreshes)
  compare("refreshes", summary.refreshes, wire.refreshed)
  compare("resource 401 answers", summary.unauthorized, wire.unauthorized)
  compare("429 answers", summary.rateLimited, wire.rateLimited)
  return disagreements
}
