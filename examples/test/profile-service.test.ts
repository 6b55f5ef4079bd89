import { assert, describe, it } from "@effect/vitest"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as ProfileService from "../src/profile-service.js"

// A test of your own code on TestClock: the in-memory authorization server (no sockets, every expiry
// read from Clock), the real TokenManager and AuthorizedClient, and time moved by hand.
const server = AuthorizationServer.layer({ accessTokenTtl: "1 hour" })

const tokenfx = Layer.unwrapEffect(Effect.map(AuthorizationServer.AuthorizationServer, (auth) => {
  const client = AuthorizationServer.confidentialClient
  return AuthorizedClient.layer({ key: "alice", origin: auth.issuer }).pipe(
    Layer.provideMerge(TokenManager.layer()),
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(TokenEndpoint.layer({
      tokenEndpoint: auth.tokenEndpoint,
      revocationEndpoint: auth.revocationEndpoint,
      clientId: client.clientId,
      clientSecret: client.clientSecret
    }))
  )
}))

const Live = Layer.unwrapEffect(
  Effect.map(AuthorizationServer.AuthorizationServer, (auth) => ProfileService.layer(auth.resourceUrl))
).pipe(
  Layer.provideMerge(tokenfx),
  Layer.provideMerge(server)
)

const refreshTokenOf = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("alice")).pipe(
  Effect.map(Option.flatMap((entry) => Option.fromNullable(entry.token.refreshToken))),
  Effect.map(Option.map(Redacted.value))
)

describe("ProfileService on TestClock", () => {
  it.effect("keeps working across expiry: one refresh per expiry, each rotating the refresh token", () =>
    Effect.gen(function*() {
      const auth = yield* AuthorizationServer.AuthorizationServer
      const manager = yield* TokenManager.TokenManager
      const profiles = yield* ProfileService.ProfileService
      yield* manager.set("alice", yield* auth.issueToken({ subject: "alice", scope: "api:read" }))
      const first = yield* refreshTokenOf

      assert.strictEqual((yield* profiles.current).sub, "alice")
      assert.strictEqual((yield* auth.stats).tokensIssued["refresh_token"] ?? 0, 0)

      // 50 minutes in: fresh, no refresh. 56 minutes: inside the refresh window (the last 10%, at most 5 min).
      yield* TestClock.adjust("50 minutes")
      yield* profiles.current
      assert.strictEqual((yield* auth.stats).tokensIssued["refresh_token"] ?? 0, 0)
      yield* TestClock.adjust("6 minutes")
      yield* Effect.all([profiles.current, profiles.current, profiles.current], { concurrency: "unbounded" })
      assert.strictEqual((yield* auth.stats).tokensIssued["refresh_token"], 1)
      const second = yield* refreshTokenOf
      assert.isTrue(Option.isSome(second))
      assert.notDeepEqual(second, first)

      // A day later, long past expiry: one more refresh, one more rotation.
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* profiles.current).sub, "alice")
      assert.strictEqual((yield* auth.stats).tokensIssued["refresh_token"], 2)
      assert.notDeepEqual(yield* refreshTokenOf, second)
    }).pipe(Effect.provide(Live)))

  it.effect("a grant revoked at the server surfaces as ReconnectRequired", () =>
    Effect.gen(function*() {
      const auth = yield* AuthorizationServer.AuthorizationServer
      const manager = yield* TokenManager.TokenManager
      const profiles = yield* ProfileService.ProfileService
      yield* manager.set("alice", yield* auth.issueToken({ subject: "alice" }))
      yield* auth.revokeAll
      yield* TestClock.adjust("2 hours")
      const error = yield* Effect.flip(profiles.current)
      assert.strictEqual((error as { readonly _tag: string })._tag, "ReconnectRequired")
    }).pipe(Effect.provide(Live)))
})
