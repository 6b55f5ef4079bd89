/**
 * A fleet of processes sharing one grant through a PostgreSQL token store: every process calls the API
 * with the user's token, and when it nears expiry exactly one of them refreshes (holding the store's
 * lease) while the others wait and adopt its result. With rotating refresh tokens and reuse detection
 * this is not an optimisation: two processes presenting the same refresh token get the grant revoked.
 *
 * Run it with `pnpm --filter @tokenfx/examples fleet-postgres` (PostgreSQL from `TOKENFX_PG_URL`,
 * default `postgres://postgres@127.0.0.1:5432/test`). It starts three workers (this file with the
 * argument `worker`) for eight seconds against 3-second access tokens, then counts the refreshes.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Command from "@effect/platform/Command"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Expiry from "@tokenfx/core/Expiry"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const user = "alice"
const workers = 3
const seconds = 8
// oidc-provider counts lifetimes in whole seconds; refresh in the last quarter of the lifetime.
const policy = Expiry.policy({ fraction: 0.25, skew: "1 second" })

const pgUrl = Config.redacted("TOKENFX_PG_URL").pipe(
  Config.withDefault(Redacted.make("postgres://postgres@127.0.0.1:5432/test"))
)

/** The store every process shares: a table in PostgreSQL, with a lease per key for refreshing. */
const store = (table: string) =>
  SqlTokenStore.layerSql({ table }).pipe(Layer.provideMerge(Layer.unwrapEffect(
    Effect.map(pgUrl, (url) => PgClient.layer({ url }))
  )))

/** One process of the fleet: calls the API with the shared token for FLEET_SECONDS, then reports. */
export const worker = Effect.gen(function*() {
  const env = yield* Config.all({
    table: Config.string("FLEET_TABLE"),
    issuer: Config.string("FLEET_ISSUER"),
    clientId: Config.string("FLEET_CLIENT_ID"),
    resource: Config.string("FLEET_RESOURCE"),
    seconds: Config.number("FLEET_SECONDS")
  })
  const until = (yield* Clock.currentTimeMillis) + env.seconds * 1000
  const report = yield* Effect.gen(function*() {
    const manager = yield* TokenManager.TokenManager
    const api = AuthorizedClient.authorize(yield* HttpClient.HttpClient, manager, {
      key: user,
      origin: new URL(env.resource).origin
    })
    let ok = 0
    let failed = 0
    while ((yield* Clock.currentTimeMillis) < until) {
      const result = yield* api.get(env.resource).pipe(
        Effect.flatMap(HttpClientResponse.filterStatusOk),
        Effect.scoped,
        Effect.either
      )
      if (result._tag === "Right") ok++
      else failed++
      yield* Effect.sleep("100 millis")
    }
    return { ok, failed }
  }).pipe(
    Effect.provide(
      TokenManager.layer({ policy }).pipe(
        Layer.provideMerge(store(env.table)),
        Layer.provideMerge(TokenEndpoint.layerDiscovery({ issuer: env.issuer, clientId: env.clientId }))
      )
    )
  )
  yield* Console.log(JSON.stringify(report))
})

const file = fileURLToPath(import.meta.url)

/** Logs the user in once, starts the workers, and counts what the server saw. */
export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const table = `tokenfx_fleet_${globalThis.crypto.randomUUID().slice(0, 8)}`
  const sql = yield* SqlClient.SqlClient

  yield* Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const manager = yield* TokenManager.TokenManager
    const request = yield* endpoint.authorizationUrl({ redirectUri: server.redirectUri, scope: ["api:read"] })
    yield* manager.set(user, yield* endpoint.exchangeCode(request, yield* server.authorize(request.url, user)))
  }).pipe(Effect.provide(
    TokenManager.layer({ policy }).pipe(
      Layer.provideMerge(SqlTokenStore.layerSql({ table })),
      Layer.provideMerge(
        TokenEndpoint.layerDiscovery({ issuer: server.issuer, clientId: server.clients.public.clientId })
      )
    )
  ))
  const loggedIn = yield* Clock.currentTimeMillis
  yield* Console.log(`${user} logged in; ${workers} workers share the token in PostgreSQL table ${table}`)

  const run = Command.make(process.execPath, "--import", "tsx", file, "worker").pipe(
    Command.workingDirectory(Path.dirname(file)),
    Command.env({
      FLEET_TABLE: table,
      FLEET_ISSUER: server.issuer,
      FLEET_CLIENT_ID: server.clients.public.clientId,
      FLEET_RESOURCE: server.resourceUrl,
      FLEET_SECONDS: String(seconds)
    }),
    Command.string
  )
  const outputs = yield* Effect.all(Array.from({ length: workers }, () => run), { concurrency: "unbounded" })
  const reports = outputs.map((output) =>
    JSON.parse(output.trim().split("\n").pop()!) as { ok: number; failed: number }
  )
  yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
  yield* sql`DROP TABLE IF EXISTS ${sql(SqlTokenStore.migrationsTable(table))}`

  const stats = yield* server.stats
  const refreshes = stats.tokenRequests["refresh_token"] ?? 0
  const elapsed = ((yield* Clock.currentTimeMillis) - loggedIn) / 1000
  yield* Console.log(
    `calls: ${reports.reduce((n, r) => n + r.ok, 0)} ok, ${reports.reduce((n, r) => n + r.failed, 0)} failed`
  )
  yield* Console.log(
    `refreshes: ${refreshes} in ${elapsed.toFixed(1)} s with 3-second tokens (one per expiry, not one per process)`
  )
  yield* Console.log(`refresh token reuse detected by the server: ${stats.grantErrors["invalid_grant"] ?? 0}`)
  return { refreshes, elapsed, reports, invalidGrants: stats.grantErrors["invalid_grant"] ?? 0 }
})

export const MainLive = Layer.unwrapEffect(Effect.map(pgUrl, (url) => PgClient.layer({ url }))).pipe(
  Layer.provideMerge(OidcProvider.layer({ accessTokenTtl: 3 })),
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(NodeContext.layer)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  const main = process.argv[2] === "worker"
    ? Effect.provide(worker, Layer.merge(NodeHttpClient.layerUndici, NodeContext.layer))
    : Effect.asVoid(Effect.provide(program, MainLive))
  main.pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.runPromise).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
