/**
 * The Prometheus example, for real: the app's two instances and their metrics port on 127.0.0.1, traffic
 * through the app over HTTP, the metrics port scraped over HTTP, the exposition text parsed, and the
 * tokenfx_ series checked for their types, labels and plausible values, and for secrets (none).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Dashboard from "../src/dashboard.js"
import * as Prometheus from "../src/prometheus.js"

// One run for the file: 16 rounds of traffic about 0.3 s apart (some 7 s with the 429's Retry-After), with
// 2-second access tokens and 8-second refresh tokens, frank idle from the third round: his refresh token comes
// within the warning horizon (half its life) and the managers warn.
let run: Promise<{ readonly text: string; readonly answers: Prometheus.Answers; readonly tokens: Array<string> }>
const scraped = Effect.promise(() =>
  run ??= Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const running = yield* Prometheus.start({ accessTokenTtl: "2 seconds", refreshTokenTtl: "8 seconds" })
    const answers = yield* Prometheus.traffic(running, {
      rounds: 16,
      pause: "300 millis",
      idle: (round) => round >= 2 ? ["frank"] : []
    })
    const text = yield* Prometheus.scrape(running.metricsUrl)
    // The tokens held at the end, for the canary (every token the provider issued has the same shape).
    const tokens = yield* Effect.forEach(Prometheus.users, (user) =>
      running.instances[0].manager.get(user).pipe(
        Effect.map((
          token
        ) => [Redacted.value(token.accessToken), ...(token.refreshToken ? [Redacted.value(token.refreshToken)] : [])]),
        Effect.orElseSucceed(() => [])
      ))
    return { text, answers, tokens: tokens.flat() }
  })))
)

const total = (samples: ReadonlyArray<Prometheus.Sample>, name: string, labels: Record<string, string> = {}) =>
  samples
    .filter((sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
    )
    .reduce((sum, sample) => sum + sample.value, 0)

const typeOf = (text: string, name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)?.[1]

describe("examples: prometheus", () => {
  it.live("the scrape holds the tokenfx_ metrics of the traffic, typed, labelled and consistent", () =>
    Effect.gen(function*() {
      const { answers, text } = yield* scraped
      const samples = Prometheus.parse(text)
      assert.isAbove(answers["200"] ?? 0, 50)
      assert.isAtLeast(answers["403"] ?? 0, 1)

      // The service, from the resource.
      assert.strictEqual(
        samples.find((sample) => sample.name === "target_info")?.labels["service_name"],
        "tokenfx-prometheus-example"
      )
      // Counters end in _total once; the latencies are histograms in milliseconds, the rest gauges.
      for (
        const name of [
          "tokenfx_token_endpoint_requests_total",
          "tokenfx_token_endpoint_retries_total",
          "tokenfx_token_refreshes_total",
          "tokenfx_token_refresh_failures_total",
          "tokenfx_token_adoptions_total",
          "tokenfx_rate_limit_waits_total",
          "tokenfx_client_authentication_failures_total",
          "tokenfx_reconnects_required_total",
          "tokenfx_revocations_total",
          "tokenfx_resource_responses_total"
        ]
      ) {
        assert.strictEqual(typeOf(text, name), "counter", name)
        assert.isAbove(total(samples, name), 0, name)
      }
      for (const name of ["tokenfx_token_endpoint_request_duration", "tokenfx_token_refresh_duration"]) {
        assert.strictEqual(typeOf(text, name), "histogram", name)
        assert.strictEqual(new RegExp(`^# UNIT ${name} (\\w+)$`, "m").exec(text)?.[1], "milliseconds")
      }
      for (const name of ["tokenfx_tokens_active", "tokenfx_refresh_tokens_expiring"]) {
        assert.strictEqual(typeOf(text, name), "gauge", name)
      }
      assert.notInclude(text, "_total_total")
      // Every tokenfx_ series says which application it is about.
      const tokenfx = samples.filter((sample) => sample.name.startsWith("tokenfx_"))
      assert.deepStrictEqual([...new Set(tokenfx.map((sample) => sample.labels["client"]))], [Prometheus.clientLabel])

      // Consistent with each other: every refresh the manager counts is one successful refresh request; every
      // request attempt has its latency observed; the 429s were retried; the scripted faults are there.
      const refresh = { operation: "refresh", grant_type: "refresh_token" }
      const attempts = total(samples, "tokenfx_token_endpoint_requests_total", refresh)
      assert.strictEqual(
        total(samples, "tokenfx_token_endpoint_requests_total", { ...refresh, outcome: "success" }),
        total(samples, "tokenfx_token_refreshes_total")
      )
      assert.strictEqual(total(samples, "tokenfx_token_endpoint_request_duration_count", refresh), attempts)
      assert.isAtLeast(total(samples, "tokenfx_token_refreshes_total"), Prometheus.users.length)
      for (const outcome of ["rate_limited", "invalid_client", "invalid_grant"]) {
        assert.isAtLeast(total(samples, "tokenfx_token_endpoint_requests_total", { ...refresh, outcome }), 1, outcome)
      }
      assert.isAtLeast(total(samples, "tokenfx_token_endpoint_retries_total", refresh), 1)
      assert.isAtLeast(total(samples, "tokenfx_token_endpoint_requests_total", { operation: "revoke" }), 1)
      // Two instances share the store: the one that did not refresh adopts.
      assert.isAtLeast(total(samples, "tokenfx_token_adoptions_total"), 1)

      // The token-health metrics: the scripted faults, each where it belongs.
      assert.isAtLeast(total(samples, "tokenfx_rate_limit_waits_total", { operation: "refresh" }), 1)
      assert.strictEqual(
        total(samples, "tokenfx_client_authentication_failures_total", { operation: "refresh" }),
        total(samples, "tokenfx_token_endpoint_requests_total", { ...refresh, outcome: "invalid_client" })
      )
      assert.isAtLeast(total(samples, "tokenfx_token_refresh_failures_total", { error: "InvalidClient" }), 1)
      assert.isAtLeast(total(samples, "tokenfx_resource_responses_total", { status: "401" }), 1)
      // Every 403 the app answered was the API's, seen by AuthorizedClient.
      assert.strictEqual(total(samples, "tokenfx_resource_responses_total", { status: "403" }), answers["403"])
      for (const reason of ["user_disconnect", "suspicious_activity"]) {
        assert.isAtLeast(total(samples, "tokenfx_revocations_total", { reason }), 1, reason)
      }
      for (const reason of ["invalid_grant", "refresh_token_expiring"]) {
        assert.isAtLeast(total(samples, "tokenfx_reconnects_required_total", { reason }), 1, reason)
      }
      assert.isAtLeast(total(samples, "tokenfx_refresh_tokens_expiring"), 1)
      const states = samples.filter((sample) => sample.name === "tokenfx_tokens_active")
      assert.includeMembers(["fresh", "refresh_window", "expired", "dead"], states.map((s) => s.labels["state"]!))
      assert.isAtLeast(total(samples, "tokenfx_tokens_active", { state: "fresh" }), 1)
      assert.isAtLeast(
        total(samples, "tokenfx_token_refresh_duration_count"),
        total(samples, "tokenfx_token_refreshes_total")
      )

      // Histogram buckets: cumulative, ending in +Inf at the count; the latency of an in-process server is small.
      const buckets = samples.filter((sample) =>
        sample.name === "tokenfx_token_endpoint_request_duration_bucket" && sample.labels["operation"] === "refresh"
      )
      assert.deepStrictEqual(
        buckets.map((bucket) => bucket.labels["le"]),
        ["10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "+Inf"]
      )
      buckets.reduce((previous, bucket) => {
        assert.isAtLeast(bucket.value, previous)
        return bucket.value
      }, 0)
      assert.strictEqual(buckets.at(-1)!.value, attempts)
      assert.isBelow(total(samples, "tokenfx_token_endpoint_request_duration_sum", refresh) / attempts, 1000)
    }))

  it.live("the scrape holds no secret: not the client secret, not a token", () =>
    Effect.gen(function*() {
      const { text, tokens } = yield* scraped
      assert.isAbove(tokens.length, 0)
      for (const secret of [Redacted.value(Prometheus.client.clientSecret), ...tokens]) {
        assert.notInclude(text, secret)
      }
      // The provider's tokens and codes are `at_`, `rt_`, `code_`, `grant_` and 32 base64url characters.
      const tokenShape = /(?:at|rt|code|grant)_[A-Za-z0-9_-]{32}/
      assert.match(tokens[0]!, tokenShape)
      assert.notMatch(text, tokenShape)
    }))
})

describe("examples: the Grafana dashboard", () => {
  const committed = Fs.readFileSync(Dashboard.grafanaPath, "utf8")

  it("is the one generated from the panel list (pnpm dashboard:render writes it)", () => {
    assert.strictEqual(committed, Dashboard.grafanaJson())
  })

  it.live("every metric its queries name is in a real scrape", () =>
    Effect.gen(function*() {
      const { text } = yield* scraped
      const names = new Set(Prometheus.parse(text).map((sample) => sample.name))
      const dashboard = JSON.parse(committed) as {
        panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>
      }
      const charts = dashboard.panels.filter((panel) => panel.type === "timeseries")
      assert.strictEqual(charts.length, Dashboard.panels.length)
      for (const panel of charts) {
        const queried = panel.targets!.flatMap((target) =>
          [...target.expr.matchAll(/\btokenfx_[a-z_]+/g)].map(([name]) => name)
        )
        assert.isAbove(queried.length, 0, panel.title)
        for (const name of queried) assert.isTrue(names.has(name), `${panel.title}: ${name} is not in the scrape`)
      }
      for (const panel of Dashboard.panels) {
        for (const name of Dashboard.scrapedNames(panel)) assert.isTrue(names.has(name), `${panel.title}: ${name}`)
      }
    }))

  it("lays its panels on Grafana's 24-column grid without overlap, ids unique", () => {
    const dashboard = JSON.parse(committed) as {
      panels: Array<{ id: number; gridPos: { x: number; y: number; w: number; h: number } }>
    }
    const ids = dashboard.panels.map((panel) => panel.id)
    assert.strictEqual(new Set(ids).size, ids.length)
    const cells = new Set<string>()
    for (const { gridPos } of dashboard.panels) {
      assert.isAtMost(gridPos.x + gridPos.w, 24)
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
          assert.isFalse(cells.has(`${x},${y}`), `overlap at ${x},${y}`)
          cells.add(`${x},${y}`)
        }
      }
    }
  })

  it("charts every metric @tokenfx/http/Telemetry declares", () => {
    const source = Fs.readFileSync(Path.join(__dirname, "../../packages/http/src/Telemetry.ts"), "utf8")
    const declared = [...source.matchAll(/Metric\.\w+\(\s*"(tokenfx_[a-z_]+)"/g)].map(([, name]) => name!)
    assert.isAtLeast(declared.length, 6)
    const charted = Dashboard.panels.map((panel) => panel.metric)
    for (const name of declared) {
      assert.isTrue(charted.includes(name) || charted.includes(`${name}_total`), `${name} has no panel`)
    }
  })
})
