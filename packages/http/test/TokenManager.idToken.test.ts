/**
 * A refresh whose answer carries an ID token: the server has rotated the refresh token before the ID
 * token is verified (a key set fetched, maybe slowly). Whatever happens during the verification, the
 * rotated token must reach the store (DESIGN.md, the refresh protocol, rule 4).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import { claims, JWKS_URI, NOW, sign, signer } from "./utils/idTokens.js"

const refreshTokenOf = (token: Token.Token) =>
  token.refreshToken === undefined ? "" : Redacted.value(token.refreshToken)

// Alice's manager over a server that rotates her refresh token and answers with an ID token, and a key
// set that never answers (the endpoint gives each request a minute).
const slowKeySet = (refreshTimeout: Duration.DurationInput) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(NOW * 1000)
    const fresh = Redacted.value(yield* sign(yield* signer("k1"), claims({ nonce: undefined })))
    const server = FakeHttp.make((request) =>
      request.url === JWKS_URI ? FakeHttp.never : FakeHttp.token({ id_token: fresh, refresh_token: "rt-2" })
    )
    const endpoint = yield* Endpoint.make(server, {
      jwksUri: JWKS_URI,
      timeout: "1 minute",
      backoff: { maxAttempts: 1, jitter: 0 }
    })
    const store = yield* TokenStore.makeMemory
    const manager = yield* TokenManager.make({ refreshTimeout }).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    )
    const initial = Token.make({
      access_token: Redacted.make("at-0"),
      refresh_token: Redacted.make("rt-1"),
      expires_in: 60
    }, NOW * 1000)
    yield* manager.set("alice", initial)
    return { server, store, manager }
  })

describe("TokenManager: a refreshed ID token verified past refreshTimeout", () => {
  it.scoped("the key set answers after refreshTimeout: the rotated refresh token is stored, the caller gets it", () =>
    Effect.gen(function*() {
      const { manager, server, store } = yield* slowKeySet("10 seconds")
      yield* TestClock.adjust("55 seconds")
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      // The token endpoint answers at once; the key set fetch times out after a minute, long after
      // refreshTimeout, and the ID token is refused on its own.
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(server.requests.filter((request) => request.url === JWKS_URI).length, 1)
      const entry = yield* store.get("alice")
      assert.strictEqual(
        Option.match(entry, { onNone: () => "none", onSome: (e) => refreshTokenOf(e.token) }),
        "rt-2",
        "the rotated refresh token was dropped: the store still holds the consumed one"
      )
      const result = yield* Fiber.join(caller)
      assert.isTrue(Either.isRight(result), `the caller got ${Either.isLeft(result) ? result.left._tag : ""}`)
      if (Either.isRight(result)) assert.strictEqual(refreshTokenOf(result.right), "rt-2")
    }))
})
