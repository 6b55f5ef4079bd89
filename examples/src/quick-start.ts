/**
 * The README's "A taste", compiled with the rest so that it stays true.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { TokenStore } from "@tokenfx/core"
import { AuthorizedClient, TokenEndpoint, TokenManager } from "@tokenfx/http"
import { Config, Effect, Layer } from "effect"

export const Api = AuthorizedClient.layer({ key: "alice", origin: "https://api.example.com" }).pipe(
  Layer.provide(TokenManager.layer({ backgroundRefresh: true })),
  Layer.provide(TokenStore.layerMemory), // or a file, encrypted, SQLite or PostgreSQL store
  Layer.provide(TokenEndpoint.layerDiscoveryConfig({
    issuer: Config.string("OAUTH_ISSUER"),
    clientId: Config.string("OAUTH_CLIENT_ID"),
    clientSecret: Config.redacted("OAUTH_CLIENT_SECRET")
  })),
  Layer.provide(NodeHttpClient.layerUndici)
)

export const me = Effect.gen(function*() {
  const client = yield* AuthorizedClient.AuthorizedClient
  // Bearer token attached, refreshed before it expires, one retry after a 401.
  return yield* client.get("https://api.example.com/me")
}).pipe(
  Effect.catchTag("ReconnectRequired", () => Effect.succeed("alice must log in again"))
)
