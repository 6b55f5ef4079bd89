/**
 * Client credentials between services: the "billing" service calls the "ledger" API as itself, no
 * user involved. The manager fetches a token on first use, reuses it while it is fresh, and fetches a
 * new one (there is no refresh token in this grant) when it nears expiry, once for all callers.
 *
 * Run it with `pnpm --filter @tokenfx/examples client-credentials`. In your service, configure the
 * endpoint from the environment instead: `TokenEndpoint.layerConfig({ tokenEndpoint:
 * Config.string("OAUTH_TOKEN_ENDPOINT"), clientId: Config.string("OAUTH_CLIENT_ID"), clientSecret:
 * Config.redacted("OAUTH_CLIENT_SECRET") })`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Expiry from "@tokenfx/core/Expiry"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

const Answer = Schema.Struct({ sub: Schema.String, scope: Schema.String })

export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const ledger = yield* AuthorizedClient.AuthorizedClient
  const call = ledger.get(server.resourceUrl).pipe(
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Answer)),
    Effect.scoped
  )
  // Ten concurrent calls: one token request between them.
  const first = yield* Effect.all(Array.from({ length: 10 }, () => call), { concurrency: "unbounded" })
  yield* Console.log(`10 calls as ${first[0]!.sub} (scope ${first[0]!.scope})`)
  yield* Effect.sleep("2500 millis")
  yield* call
  const stats = yield* server.stats
  yield* Console.log(
    `after the token expired, one more call; client_credentials grants: ${stats.tokenRequests["client_credentials"]}`
  )
})

const EndpointLive = Layer.unwrapEffect(Effect.map(OidcProvider.OidcProvider, (server) =>
  TokenEndpoint.layerDiscovery({
    issuer: server.issuer,
    clientId: server.clients.basic.clientId,
    clientSecret: server.clients.basic.clientSecret
  })))

const LedgerLive = Layer.unwrapEffect(Effect.map(OidcProvider.OidcProvider, (server) =>
  // The key names the token (one per audience or service); the origin is the only place it is sent.
  AuthorizedClient.layer({ key: "ledger", origin: server.issuer })))

export const MainLive = LedgerLive.pipe(
  Layer.provideMerge(TokenManager.layer({
    source: TokenManager.clientCredentials({ scope: "api:read" }),
    policy: Expiry.policy({ skew: "1 second" })
  })),
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(EndpointLive),
  Layer.provideMerge(OidcProvider.layer({ accessTokenTtl: 2 })),
  Layer.provideMerge(NodeHttpClient.layerUndici)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.provide(program, MainLive)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
