import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Array from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"

// oidc-provider in process, 2-second access tokens, refresh token rotation with whole-grant
// revocation on reuse: a login, then the manager and the authorized client as an application runs them.
const setup = Effect.gen(function*() {
  const server = yield* OidcProvider.make({ accessTokenTtl: 2 })
  const store = yield* TokenStore.makeMemory
  const endpoint = yield* TokenEndpoint.make({
    issuer: server.issuer,
    tokenEndpoint: server.tokenEndpoint,
    authorizationEndpoint: server.authorizationEndpoint,
    revocationEndpoint: server.revocationEndpoint,
    clientId: server.clients.basic.clientId,
    clientSecret: server.clients.basic.clientSecret
  })
  // oidc-provider counts lifetimes in whole seconds, so a 2-second token may die a second early: the
  // skew the README advises for such servers, or a loaded machine turns retried requests into 401s.
  const manager = yield* TokenManager.make({ policy: Expiry.policy({ skew: "1 second" }) }).pipe(
    Effect.provideService(TokenStore.TokenStore, store),
    Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
  )
  const request = yield* endpoint.authorizationUrl({
    redirectUri: server.redirectUri,
    scope: ["openid", "offline_access", "api:read"]
  })
  yield* manager.set("alice", yield* endpoint.exchangeCode(request, yield* server.authorize(request.url)))
  const client = AuthorizedClient.authorize(yield* HttpClient.HttpClient, manager, {
    key: "alice",
    origin: server.issuer
  })
  return { client, manager, server, store }
})

const count = (record: Readonly<Record<string, number>>, name: string) => record[name] ?? 0

describe("AuthorizedClient against oidc-provider", () => {
  it.scopedLive(
    "1,000 concurrent requests across several expiries: no failure, no invalid_grant",
    () =>
      Effect.gen(function*() {
        const { client, manager, server } = yield* setup
        const events = yield* manager.subscribe
        const before = yield* server.stats
        // All in flight at once, started over 5 seconds: 2-second tokens expire under them twice or more.
        const statuses = yield* Effect.forEach(
          Array.range(0, 999),
          (i) =>
            client.get(server.resourceUrl).pipe(
              Effect.delay(`${i * 5} millis`),
              Effect.map((response) => response.status)
            ),
          { concurrency: "unbounded" }
        )
        const after = yield* server.stats
        assert.strictEqual(statuses.filter((status) => status !== 200).length, 0)
        assert.isAtLeast(after.resourceRequests - before.resourceRequests, 1_000)
        assert.strictEqual(count(after.grantErrors, "invalid_grant"), count(before.grantErrors, "invalid_grant"))
        // Once per refresh instant: a 2-second token is refreshed 0.8 s after issue (1.8 s less the 1 s
        // skew), so the 5 seconds hold at most 7 refreshes, however many requests ask.
        const refreshes = count(after.tokenRequests, "refresh_token") - count(before.tokenRequests, "refresh_token")
        assert.isAtLeast(refreshes, 2)
        assert.isAtMost(refreshes, 7)
        const log = Chunk.toReadonlyArray(yield* Queue.takeAll(events))
        assert.strictEqual(log.filter(TokenManager.Event.$is("Rotated")).length, refreshes)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)),
    { timeout: 20_000 }
  )

  it.scopedLive(
    "a grant revoked at the server turns the next call after expiry into ReconnectRequired",
    () =>
      Effect.gen(function*() {
        const { client, server, store } = yield* setup
        assert.strictEqual((yield* client.get(server.resourceUrl)).status, 200)
        yield* server.revokeGrants()
        yield* Effect.sleep("2100 millis")
        const error = yield* Effect.flip(client.get(server.resourceUrl))
        assert.strictEqual(error._tag, "ReconnectRequired")
        assert.isTrue(Option.isNone(yield* store.get("alice")))
        assert.strictEqual(count((yield* server.stats).grantErrors, "invalid_grant"), 1)
      }).pipe(Effect.provide(NodeHttpClient.layerUndici)),
    { timeout: 20_000 }
  )
})
