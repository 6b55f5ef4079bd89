/**
 * A lease given up for lost (a renewal answered "no longer yours") just as the server answers the
 * refresh. From the answer on the exchange runs on, holding the only copy of the rotated refresh token,
 * and its flight must wait for it: a flight that ended first let the key's next flight read the consumed
 * refresh token from the store and present it again, which a server with reuse detection answers by
 * revoking the grant (DESIGN.md, the refresh protocol: the rotated result is durable before the lease is
 * let go).
 */
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as answered from "../src/internal/answered.js"

const refreshTokenOf = (token: Token.Token) =>
  token.refreshToken === undefined ? "" : Redacted.value(token.refreshToken)

const tokenAt = (n: number, issuedAt: number, expiresIn: number) =>
  Token.make({
    access_token: Redacted.make(`at-${n}`),
    refresh_token: Redacted.make(`rt-${n}`),
    expires_in: expiresIn
  }, issuedAt)

const outcomeOf = (result: Either.Either<Token.Token, TokenManager.GetError>) =>
  Either.match(result, { onLeft: (error) => error._tag, onRight: refreshTokenOf })

// A store whose next lease renewal, once `holdRenewal` is set, answers "no longer yours" when
// `answerRenewal` is called; whose writes hang while `writesHang` (the memory store under it keeps the
// lease ours all along).
const faultyStore = (inner: TokenStore.TokenStore["Type"]) => {
  const renewal = Deferred.unsafeMake<void>(FiberId.none)
  const state = {
    holdRenewal: false,
    writesHang: false,
    answerRenewal: () => Deferred.unsafeDone(renewal, Exit.void)
  }
  const store = TokenStore.TokenStore.of({
    ...inner,
    renewLease: (key, owner, ttl) =>
      Effect.suspend(() => {
        if (!state.holdRenewal) return inner.renewLease(key, owner, ttl)
        state.holdRenewal = false
        return Effect.as(Deferred.await(renewal), false)
      }),
    compareAndSet: (key, token, expected) =>
      Effect.suspend(() => state.writesHang ? Effect.never : inner.compareAndSet(key, token, expected))
  })
  return { store, state }
}

/**
 * Alice's manager over a source that rotates her refresh token and, like a server with reuse detection,
 * refuses a refresh token presented again after it was answered (`reused`). The first answer comes 12 s
 * after the request (67 s), while the keep-alive renewal made at 65 s is unanswered: the store answers it
 * "no longer yours" `turns` scheduler turns before the server's answer lands.
 */
const alice = (options: { readonly turns: number }) =>
  Effect.gen(function*() {
    const inner = yield* TokenStore.makeMemory
    const { state, store } = faultyStore(inner)
    const server = { presented: [] as Array<string>, consumed: [] as Array<string>, reused: [] as Array<string> }
    // Whether the first answer reached the exchange (else the lease loss interrupted the request first).
    let firstAnswered = false
    const source = TokenSource.make((request) =>
      Effect.gen(function*() {
        const refreshToken = Option.match(request.token, { onNone: () => "", onSome: refreshTokenOf })
        server.presented.push(refreshToken)
        if (server.consumed.includes(refreshToken)) {
          server.reused.push(refreshToken)
          return yield* new OAuthError.InvalidGrant({ description: "refresh token reused: grant revoked" })
        }
        if (server.presented.length === 1) {
          yield* Effect.sleep("12 seconds")
          state.answerRenewal()
          for (let i = 0; i < options.turns; i++) yield* Effect.yieldNow()
          firstAnswered = true
        }
        server.consumed.push(refreshToken)
        yield* answered.signal
        return tokenAt(server.consumed.length + 1, yield* TestClock.currentTimeMillis, 3600)
      }), { requiresRefreshToken: true })
    const manager = yield* TokenManager.makeWithSource().pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenSource.TokenSource, source)
    )
    yield* manager.set("alice", tokenAt(1, 0, 60))
    // Inside the refresh window: the refresh token leaves at 55 s, under a lease renewed at 65 s.
    yield* TestClock.adjust("55 seconds")
    const first = yield* Effect.fork(Effect.either(manager.get("alice")))
    yield* TestClock.adjust("1 second")
    assert.deepStrictEqual(server.presented, ["rt-1"])
    state.holdRenewal = true
    return { inner, manager, state, server, first, firstAnswered: () => firstAnswered }
  })

const storedRefreshToken = (store: TokenStore.TokenStore["Type"]) =>
  Effect.map(store.get("alice"), Option.match({ onNone: () => "none", onSome: (e) => refreshTokenOf(e.token) }))

describe("TokenManager: the lease lost as the server answers", () => {
  // Wherever the lease loss lands around the answer: before it, the request is interrupted (its refresh
  // token was not consumed); after it, the exchange runs on and its flight waits for it.
  for (const turns of [0, 1, 2, 3, 4, 5, 6]) {
    it.scoped(`${turns} turns apart, the write hanging: the rotated refresh token is stored, never presented twice`, () =>
      Effect.gen(function*() {
        const { first, firstAnswered, inner, manager, server, state } = yield* alice({ turns })
        state.writesHang = true
        yield* TestClock.adjust("12 seconds")
        // The write is still hanging (an attempt is given 10 s) when alice is asked for again.
        yield* TestClock.adjust("1 second")
        const second = yield* Effect.fork(Effect.either(manager.get("alice")))
        state.writesHang = false
        yield* TestClock.adjust("1 minute")
        const seen = `presented: ${server.presented.join(", ")}; answered: ${server.consumed.join(", ")}`
        assert.deepStrictEqual(server.reused, [], `a consumed refresh token was presented again (${seen})`)
        const rotated = `rt-${server.consumed.length + 1}`
        assert.strictEqual(yield* storedRefreshToken(inner), rotated, `the rotated refresh token was lost (${seen})`)
        assert.strictEqual(outcomeOf(yield* Fiber.join(second)), rotated)
        // Answered, the first caller waited for the exchange; interrupted before, it lost the lease.
        assert.strictEqual(outcomeOf(yield* Fiber.join(first)), firstAnswered() ? rotated : "LeaseLost")
      }))
  }
})
