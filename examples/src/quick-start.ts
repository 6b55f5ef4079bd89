/**
 * The README's "A taste": compiled with the rest, and run in CI (`pnpm quick-start`) on every Node
 * line, against oidc-provider started on 127.0.0.1 in the place of your provider (the end of the file).
 */
import { NodeHttpClient } from "@effect/platform-node"
import { TokenStore } from "@tokenfx/core"
import type { AuthorizationCode } from "@tokenfx/http"
import { AuthorizedClient, TokenEndpoint, TokenManager } from "@tokenfx/http"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import { Config, ConfigProvider, Console, Effect, Layer, Logger, LogLevel, Redacted } from "effect"

// --- A taste -------------------------------------------------------------------------------------

// Everything alice's calls need: her provider, a store for her token, a manager keeping it fresh.
export const Api = Layer.unwrapEffect(
  Effect.map(Config.string("API_ORIGIN"), (origin) => AuthorizedClient.layer({ key: "alice", origin }))
).pipe(
  Layer.provideMerge(TokenManager.layer({ backgroundRefresh: true })),
  Layer.provideMerge(TokenStore.layerMemory), // or a file, encrypted, SQLite or PostgreSQL store
  Layer.provideMerge(TokenEndpoint.layerDiscoveryConfig({
    issuer: Config.string("OAUTH_ISSUER"),
    clientId: Config.string("OAUTH_CLIENT_ID"),
    clientSecret: Config.redacted("OAUTH_CLIENT_SECRET")
  })),
  Layer.provide(NodeHttpClient.layerUndici)
)

// 1. Login, once: send alice to `request.url` (authorization code + PKCE)...
export const startLogin = Effect.gen(function*() {
  const endpoint = yield* TokenEndpoint.TokenEndpoint
  return yield* endpoint.authorizationUrl({
    redirectUri: yield* Config.string("OAUTH_REDIRECT_URI"),
    scope: ["openid", "offline_access", "api:read"]
  })
})

// ...and your redirect handler finishes it: the code is exchanged and alice's token goes into the store.
export const finishLogin = (
  request: AuthorizationCode.AuthorizationRequest,
  callback: AuthorizationCode.Callback | string
) =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const token = yield* endpoint.exchangeCode(request, callback) // state, iss and PKCE checked
    const manager = yield* TokenManager.TokenManager
    yield* manager.set("alice", token)
  })

// 2. From then on, call the API as alice: bearer token attached, refreshed before it expires, one
// retry after a 401.
export const me = Effect.gen(function*() {
  const client = yield* AuthorizedClient.AuthorizedClient
  const response = yield* client.get(yield* Config.string("API_URL"))
  return yield* response.json
}).pipe(
  Effect.catchTag("ReconnectRequired", () => Effect.succeed("alice must log in again"))
)

// --- Run it: `pnpm quick-start` ------------------------------------------------------------------

// oidc-provider on 127.0.0.1 plays your provider and your API; `authorize` plays alice in her browser.
export const main = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const config = ConfigProvider.fromMap(
    new Map([
      ["OAUTH_ISSUER", server.issuer],
      ["OAUTH_CLIENT_ID", server.clients.basic.clientId],
      // As your deployment's environment would hold it.
      ["OAUTH_CLIENT_SECRET", Redacted.value(server.clients.basic.clientSecret ?? Redacted.make(""))],
      ["OAUTH_REDIRECT_URI", server.redirectUri],
      ["API_ORIGIN", new URL(server.resourceUrl).origin],
      ["API_URL", server.resourceUrl]
    ])
  )
  return yield* Effect.gen(function*() {
    const request = yield* startLogin
    const callback = yield* server.authorize(request.url, "alice")
    yield* finishLogin(request, callback)
    const answer = yield* me
    yield* Console.log("GET", server.resourceUrl, "as alice:", answer)
    return answer
  }).pipe(Effect.provide(Api), Effect.withConfigProvider(config))
}).pipe(Effect.provide(OidcProvider.layer()))

if (import.meta.url === `file://${process.argv[1]}`) {
  main.pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.runPromise).then(
    (answer) => {
      if (typeof answer !== "object") process.exitCode = 1
    },
    (error) => {
      console.error(error)
      process.exitCode = 1
    }
  )
}
