/**
 * A token-holding service scraped by Prometheus: an app that calls an API on behalf of its users through
 * one `TokenManager` and `AuthorizedClient`, with tokenfx's metrics exported by OpenTelemetry's Prometheus
 * exporter (`@opentelemetry/exporter-prometheus`) through `@tokenfx/otel`, on a metrics port of its own.
 *
 * Routes of the app: `GET /profile?user=U` (calls the API as U: 200, or 401 `{ "error": "reconnect" }`) and
 * `POST /disconnect?user=U` (revokes U's grant). `GET /metrics` on the metrics port is the scrape target:
 *
 * ```yaml
 * scrape_configs:
 *   - job_name: tokenfx
 *     static_configs: [{ targets: ["127.0.0.1:9464"] }]
 * ```
 *
 * The provider is `@tokenfx/testing`'s in-process AuthorizationServer, steered by `traffic` to produce
 * what a fleet sees in a day: refreshes, rate limiting, a misconfigured client secret, a 401 and a 403 from
 * the API, a revoked grant and users disconnecting.
 *
 * Run it with `pnpm --filter @tokenfx/examples prometheus` (add `--port 9464` for a fixed metrics port):
 * it prints both URLs and keeps the traffic going until Ctrl-C.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus"
import * as Expiry from "@tokenfx/core/Expiry"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as StoreMetrics from "@tokenfx/http/StoreMetrics"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as OpenTelemetry from "@tokenfx/otel/OpenTelemetry"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const User = Schema.Struct({ user: Schema.String.pipe(Schema.pattern(/^[a-z0-9-]{1,64}$/)) })
const Disconnect = Schema.Struct({
  user: User.fields.user,
  reason: Schema.optional(Schema.Literal("user_disconnect", "suspicious_activity", "account_deactivated"))
})

/** The `client` label of every metric the app records: which application (OAuth client) they are about. */
export const clientLabel = "reports"

/** The users the traffic plays. */
export const users = ["alice", "bob", "carol", "dave", "erin", "frank"] as const

/** The client's id and secret at the provider (the secret is what a scrape must never show). */
export const client = { clientId: "reports", clientSecret: Redacted.make("reports-s3cret-do-not-export") }

/** What `start` runs: the app, its metrics port and the provider the traffic steers. */
export interface Running {
  readonly instances: readonly [Instance, Instance]
  readonly metricsUrl: string
  readonly server: AuthorizationServer.AuthorizationServer["Type"]
}

/** An instance of the app: its URL and its `TokenManager`. */
export interface Instance {
  readonly url: string
  readonly manager: TokenManager.TokenManager["Type"]
}

/** The app: its routes over the `TokenManager` and the API, each user's calls with that user's token. */
const app = (server: AuthorizationServer.AuthorizationServer["Type"], manager: TokenManager.TokenManager["Type"]) =>
  HttpRouter.empty.pipe(
    HttpRouter.get(
      "/profile",
      Effect.gen(function*() {
        const { user } = yield* HttpServerRequest.schemaSearchParams(User)
        const scope = new URL(yield* HttpServerRequest.HttpServerRequest.pipe(Effect.map((r) => r.url)), "http://app")
          .searchParams.get("scope")
        const api = AuthorizedClient.authorize(server.httpClient, manager, {
          key: user,
          origin: server.issuer,
          clientLabel
        })
        const url = scope === null ? server.resourceUrl : `${server.resourceUrl}?scope=${encodeURIComponent(scope)}`
        const response = yield* api.get(url)
        return yield* HttpServerResponse.json(yield* response.json)
      }).pipe(
        Effect.scoped,
        Effect.catchTags({
          ReconnectRequired: () => HttpServerResponse.json({ error: "reconnect" }, { status: 401 }),
          InvalidToken: () => HttpServerResponse.json({ error: "invalid_token" }, { status: 502 }),
          InsufficientScope: () => HttpServerResponse.json({ error: "insufficient_scope" }, { status: 403 })
        })
      )
    ),
    HttpRouter.post(
      "/disconnect",
      Effect.gen(function*() {
        const { reason, user } = yield* HttpServerRequest.schemaSearchParams(Disconnect)
        const revocation = yield* manager.revoke(user, { reason: reason ?? "user_disconnect" })
        return yield* HttpServerResponse.json({ revoked: revocation._tag })
      })
    ),
    HttpRouter.catchAll((error) =>
      HttpServerResponse.json({ error: "failed", reason: String(error._tag ?? "unknown") }, { status: 500 })
    )
  )

// The Prometheus exporter serves its own `/metrics` port; here on 127.0.0.1 (a port of 0 picks a free one).
const metricsServer = (exporter: PrometheusExporter, port: number) =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer((request, response) => {
        if (request.method === "GET" && request.url === "/metrics") exporter.getMetricsRequestHandler(request, response)
        else response.writeHead(404).end()
      })
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

// One instance of the app: its own token endpoint client, `TokenManager` and HTTP server (127.0.0.1, a free
// port), over the token store the instances share.
const instance = (server: AuthorizationServer.AuthorizationServer["Type"], store: TokenStore.TokenStore["Type"]) =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.make({
      tokenEndpoint: server.tokenEndpoint,
      revocationEndpoint: server.revocationEndpoint,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      backoff: { maxAttempts: 3, maxDelay: "2 seconds" },
      clientLabel
    }).pipe(Effect.provideService(HttpClient.HttpClient, server.httpClient))
    const manager = yield* TokenManager.make({
      // Refresh in the last quarter of a token's life (a second of a 4-second token).
      policy: Expiry.policy({ fraction: 0.25, min: "1 second", max: "5 minutes" }),
      retryBackoff: { initial: "200 millis", max: "1 second" },
      clientLabel
    }).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    )
    const http = yield* Layer.buildWithScope(
      NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }).pipe(
        Layer.provide(NodeContext.layer),
        Layer.orDie
      ),
      yield* Effect.scope
    )
    const url = yield* HttpServer.serveEffect(app(server, manager)).pipe(
      Effect.zipRight(
        HttpServer.addressWith((address) =>
          Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "")
        )
      ),
      Effect.provide(http)
    )
    return { url, manager }
  })

/**
 * Starts the provider, two instances of the app sharing one token store (as a fleet behind a load
 * balancer does: one refreshes a user's token, the other adopts it from the store) and the metrics port,
 * with tokenfx's metrics exported to Prometheus through `@tokenfx/otel`, for as long as the scope lives.
 */
export const start = (options: {
  /** The access tokens' lifetime: short, so that the traffic sees refreshes. Default: 4 seconds. */
  readonly accessTokenTtl?: Duration.DurationInput | undefined
  /**
   * The refresh tokens' lifetime (renewed by each refresh): short, so that an idle user's nears its end and
   * the managers warn (`ReconnectSoon`, within half of it). Default: 30 seconds.
   */
  readonly refreshTokenTtl?: Duration.DurationInput | undefined
  /** The metrics port. Default: 0 (a free one). */
  readonly metricsPort?: number | undefined
} = {}): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Pull-based: the exporter reads the metrics when Prometheus scrapes, served by `metricsServer`.
    const exporter = new PrometheusExporter({ preventServerStart: true })
    yield* Layer.buildWithScope(
      OpenTelemetry.layer({ serviceName: "tokenfx-prometheus-example", metricReaders: [exporter] }),
      yield* Effect.scope
    )
    const metrics = yield* metricsServer(exporter, options.metricsPort ?? 0)
    const server = yield* AuthorizationServer.make({
      clients: [{ ...client, scope: "profile admin" }],
      accessTokenTtl: options.accessTokenTtl ?? "4 seconds",
      refreshTokenTtl: options.refreshTokenTtl ?? "30 seconds"
    })
    const store = yield* TokenStore.makeMemory
    // The shared store's counts by state, as `tokenfx_store_tokens` (one poller for the store, not one per instance).
    yield* StoreMetrics.poll({ clientLabel, schedule: Schedule.spaced("1 second"), refreshWindow: "1 second" }).pipe(
      Effect.provideService(TokenStore.TokenStore, store)
    )
    const instances = [yield* instance(server, store), yield* instance(server, store)] as const
    return {
      instances,
      metricsUrl: `http://127.0.0.1:${(metrics.address() as AddressInfo).port}/metrics`,
      server
    }
  })

/** What the traffic saw: the app's answers by status. */
export type Answers = Record<string, number>

const call = (url: string, init?: RequestInit) =>
  Effect.promise(() =>
    fetch(url, init).then(async (response) => ({ status: response.status, body: await response.text() }))
  )

/**
 * Plays `rounds` rounds of traffic, `pause` apart: every user asks for their profile each round, and the
 * provider misbehaves on a schedule: rate limiting (429 with `Retry-After`), a rejected client secret
 * (`invalid_client`), 401 and 403 from the API, a grant that dies (`invalid_grant`), users who disconnect.
 * Users told to reconnect log in again (a new token from the provider) the round after.
 */
export const traffic = (running: Running, options: {
  readonly rounds: number
  readonly pause?: Duration.DurationInput | undefined
  /** The users who make no request in `round`. Default: frank, from the 10th to the 34th round of every 60. */
  readonly idle?: ((round: number) => ReadonlyArray<string>) | undefined
  /** Called after each round with the answers so far. */
  readonly onRound?: ((round: number, answers: Answers) => Effect.Effect<void>) | undefined
}): Effect.Effect<Answers> =>
  Effect.gen(function*() {
    const { instances, server } = running
    // A user's requests land on either instance, turn by turn, as behind a load balancer.
    const on = (round: number, index: number) => instances[(round + index) % 2]!
    const answers: Answers = {}
    const login = (user: string) =>
      Effect.flatMap(
        server.issueToken({ clientId: client.clientId, subject: user, scope: "profile" }),
        (token) => Effect.orDie(instances[0].manager.set(user, token))
      )
    let away = new Set<string>(users)
    for (let round = 0; round < options.rounds; round++) {
      yield* Effect.forEach(away, login, { discard: true })
      away = new Set()
      if (round % 5 === 2) {
        yield* server.failNext(1, { status: 429, headers: { "retry-after": "1" }, endpoint: "token" })
      }
      if (round % 7 === 3) {
        yield* server.failNext(1, { status: 401, body: { error: "invalid_client" }, endpoint: "token" })
      }
      if (round % 4 === 1) {
        yield* server.failNext(1, {
          status: 401,
          body: { error: "invalid_token" },
          headers: { "www-authenticate": "Bearer error=\"invalid_token\"" },
          endpoint: "resource"
        })
      }
      if (round % 9 === 4) {
        yield* server.failNext(1, { status: 400, body: { error: "invalid_grant" }, endpoint: "token" })
      }
      const idle = options.idle?.(round) ?? (round % 60 >= 10 && round % 60 < 35 ? ["frank"] : [])
      const active = users.filter((user) => !idle.includes(user))
      const results = yield* Effect.forEach(active, (user, index) => {
        // Now and then a user asks for more than their token allows (403).
        const scope = round % 6 === 5 && index === round % active.length ? "&scope=admin" : ""
        return call(`${on(round, index).url}/profile?user=${user}${scope}`).pipe(
          Effect.map((answer) => ({ user, answer }))
        )
      }, { concurrency: "unbounded" })
      for (const { answer, user } of results) {
        answers[answer.status] = (answers[answer.status] ?? 0) + 1
        if (answer.status === 401) away.add(user)
      }
      if (round % 8 === 7 || round % 12 === 11) {
        const user = users[round % (users.length - 1)]!
        const reason = round % 8 === 7 ? "user_disconnect" : "suspicious_activity"
        yield* call(`${on(round, 0).url}/disconnect?user=${user}&reason=${reason}`, { method: "POST" })
        away.add(user)
      }
      if (options.onRound !== undefined) yield* options.onRound(round, answers)
      if (options.pause !== undefined) yield* Effect.sleep(options.pause)
    }
    return answers
  })

/** One sample of the Prometheus text exposition format. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Scrapes `metricsUrl` over HTTP: the exposition text. */
export const scrape = (metricsUrl: string): Effect.Effect<string> =>
  Effect.promise(() =>
    fetch(metricsUrl).then((response) => {
      if (response.status !== 200) throw new Error(`scrape: ${response.status}`)
      return response.text()
    })
  )

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the Prometheus text exposition format (version 0.0.4) into samples; comments are skipped. */
export const parse = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").flatMap((line) => {
    const match = sampleLine.exec(line.trim())
    if (match === null || line.startsWith("#")) return []
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? "").matchAll(labelPair)) {
      labels[key!] = value!.replace(/\\n/g, "\n").replace(/\\"/g, "\"").replace(/\\\\/g, "\\")
    }
    const value = match[3] === "+Inf" ? Infinity : match[3] === "-Inf" ? -Infinity : Number(match[3])
    return [{ name: match[1]!, labels, value }]
  })

const portArgument = (): number | undefined => {
  const index = process.argv.indexOf("--port")
  return index === -1 ? undefined : Number(process.argv[index + 1])
}

/** The example, run: both URLs printed, then traffic every second until interrupted. */
export const main = Effect.gen(function*() {
  const running = yield* start({ metricsPort: portArgument() })
  for (const { url } of running.instances) yield* Console.log(`app:     ${url}/profile?user=alice`)
  yield* Console.log(`metrics: ${running.metricsUrl}`)
  yield* traffic(running, {
    rounds: Number.POSITIVE_INFINITY,
    pause: "1 second",
    onRound: (round, answers) =>
      round % 10 === 9 ? Console.log(`${round + 1} rounds: ${JSON.stringify(answers)}`) : Effect.void
  })
}).pipe(Effect.scoped)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(main).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
