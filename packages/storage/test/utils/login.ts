/**
 * One login at the oidc-provider harness (authorization code + PKCE, the `basic` client), its token
 * stored under `key`: what the cross-process tests' children then share.
 */
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"

export const login = (key: string) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const store = yield* TokenStore.TokenStore
    const client = server.clients.basic
    const endpoint = yield* TokenEndpoint.make({
      issuer: server.issuer,
      tokenEndpoint: server.tokenEndpoint,
      authorizationEndpoint: server.authorizationEndpoint,
      clientId: client.clientId,
      clientSecret: client.clientSecret
    })
    const request = yield* endpoint.authorizationUrl({
      redirectUri: server.redirectUri,
      scope: ["openid", "offline_access", "api:read"]
    })
    const initial = yield* store.set(key, yield* endpoint.exchangeCode(request, yield* server.authorize(request.url)))
    return { server, store, client, initial }
  })
