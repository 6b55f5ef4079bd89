/**
 * A multi-tenant web application: each user connects their account once (authorization code + PKCE),
 * their tokens are kept encrypted (AES-256-GCM) in SQLite under their user id, every request on their
 * behalf gets a fresh token from the one `TokenManager`, and when a user's grant dies (revoked,
 * expired) the app answers "reconnect" with the link to do so, while the other users carry on.
 *
 * Routes: `GET /connect?user=U` (redirects to the provider), `GET /callback`, `GET /me?user=U` (calls
 * the provider's API as U: 200, or 401 `{ "error": "reconnect", "connect": "/connect?user=U" }`).
 *
 * Run it with `pnpm --filter @tokenfx/examples multi-tenant-server`: the embedded provider plays the
 * users' logins.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as AuthorizationCode from "@tokenfx/http/AuthorizationCode"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Http from "node:http"

const User = Schema.Struct({ user: Schema.String.pipe(Schema.pattern(/^[a-z0-9-]{1,64}$/)) })
const Callback = Schema.Struct({ code: Schema.String, state: Schema.String, iss: Schema.optional(Schema.String) })

/** The application: its routes over the `TokenManager` (one for every user) and the provider's API. */
export const app = (options: { readonly baseUrl: string; readonly apiUrl: string }) =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const manager = yield* TokenManager.TokenManager
    const client = yield* HttpClient.HttpClient
    // Requests in flight by `state`; a real app keeps them in the user's session.
    const pending = new Map<
      string,
      { readonly user: string; readonly request: AuthorizationCode.AuthorizationRequest }
    >()

    return HttpRouter.empty.pipe(
      HttpRouter.get(
        "/connect",
        Effect.gen(function*() {
          const { user } = yield* HttpServerRequest.schemaSearchParams(User)
          const request = yield* endpoint.authorizationUrl({
            redirectUri: `${options.baseUrl}/callback`,
            scope: ["openid", "offline_access", "api:read"]
          })
          pending.set(request.state, { user, request })
          return HttpServerResponse.redirect(request.url, { status: 302 })
        })
      ),
      HttpRouter.get(
        "/callback",
        Effect.gen(function*() {
          const callback = yield* HttpServerRequest.schemaSearchParams(Callback)
          const flight = pending.get(callback.state)
          if (flight === undefined) return HttpServerResponse.text("unknown login", { status: 400 })
          pending.delete(callback.state)
          const token = yield* endpoint.exchangeCode(flight.request, callback)
          yield* manager.set(flight.user, token)
          return HttpServerResponse.text(`connected ${flight.user}`)
        })
      ),
      HttpRouter.get(
        "/me",
        Effect.gen(function*() {
          const { user } = yield* HttpServerRequest.schemaSearchParams(User)
          const api = AuthorizedClient.authorize(client, manager, { key: user, origin: new URL(options.apiUrl).origin })
          const response = yield* api.get(options.apiUrl)
          return yield* HttpServerResponse.json(yield* response.json)
        }).pipe(
          Effect.scoped,
          Effect.catchTag(
            "ReconnectRequired",
            (error) =>
              HttpServerResponse.json({ error: "reconnect", connect: `/connect?user=${error.key}` }, { status: 401 })
          )
        )
      ),
      HttpRouter.catchAll((error) =>
        HttpServerResponse.json({ error: "failed", reason: String(error._tag ?? "unknown") }, { status: 500 })
      )
    )
  })

// The users, scripted: each connects through the app, logging in at the embedded provider.
const connect = (server: OidcProvider.OidcServer, baseUrl: string, user: string) =>
  Effect.gen(function*() {
    const start = yield* Effect.promise(() => fetch(`${baseUrl}/connect?user=${user}`, { redirect: "manual" }))
    const callback = yield* server.authorize(start.headers.get("location")!, user)
    const done = new URL(`${baseUrl}/callback`)
    done.search = new URLSearchParams({ code: callback.code, state: callback.state!, iss: callback.iss! }).toString()
    return yield* Effect.promise(() => fetch(done).then((response) => response.text()))
  })

const me = (baseUrl: string, user: string) =>
  Effect.promise(() =>
    fetch(`${baseUrl}/me?user=${user}`).then(async (response) => `${response.status} ${await response.text()}`)
  )

export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const address = yield* HttpServer.addressWith((address) =>
    Effect.succeed(address._tag === "TcpAddress" ? address.port : 0)
  )
  const baseUrl = `http://127.0.0.1:${address}`
  yield* HttpServer.serveEffect(yield* app({ baseUrl, apiUrl: server.resourceUrl }))

  for (const user of ["alice", "bob"]) yield* Console.log(yield* connect(server, baseUrl, user))
  yield* Console.log(`alice: ${yield* me(baseUrl, "alice")}`)
  yield* Console.log(`bob: ${yield* me(baseUrl, "bob")}`)

  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly token_key: string; readonly payload: string }>`
    SELECT token_key, payload FROM tokenfx_tokens ORDER BY token_key`
  yield* Console.log(
    `SQLite rows: ${rows.map((row) => row.token_key).join(", ")}; readable JSON in them: ${
      rows.some((row) => row.payload.includes("accessToken") || row.payload.includes("refreshToken"))
    }`
  )

  yield* server.revokeGrants("bob")
  yield* Console.log("bob's grant was revoked at the provider")
  yield* Console.log(`bob: ${yield* me(baseUrl, "bob")}`)
  yield* Console.log(`alice: ${yield* me(baseUrl, "alice")}`)
})

const Database = Layer.unwrapScoped(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "tokenfx-tenants-" })
  return SqliteClient.layer({ filename: `${directory}/tokens.db` })
}))

// Tokens at rest: encrypted under a key from TOKENFX_ENCRYPTION_KEY in production
// (`EncryptedTokenStore.layerConfig()`); generated here.
const StoreLive = Layer.unwrapEffect(Effect.gen(function*() {
  const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
  return EncryptedTokenStore.layer(keyRing).pipe(Layer.provide(SqlTokenStore.layerRaw()))
}))

const EndpointLive = Layer.unwrapEffect(Effect.map(OidcProvider.OidcProvider, (server) =>
  // The embedded provider's native client accepts a loopback callback on any port; register your
  // app's callback URL with your provider.
  TokenEndpoint.layerDiscovery({ issuer: server.issuer, clientId: server.clients.native.clientId })))

export const MainLive = TokenManager.layer().pipe(
  Layer.provideMerge(StoreLive),
  Layer.provideMerge(EndpointLive),
  Layer.provideMerge(Database),
  Layer.provideMerge(OidcProvider.layer()),
  Layer.provideMerge(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(NodeContext.layer)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.scoped(Effect.provide(program, MainLive))).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
