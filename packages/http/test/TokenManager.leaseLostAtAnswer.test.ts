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
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as answered from "../src/internal/answered.js"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import { claims, JWKS_URI, NOW, sign, signer } from "./utils/idTokens.js"

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
// `answerRenewal` is called; whose writes hang while `writesHang` and fail while `writesFail` (the
// memory store under it keeps the lease ours all along).
const faultyStore = (inner: TokenStore.TokenStore["Type"]) => {
  const renewal = Deferred.unsafeMake<void>(FiberId.none)
  const state = {
    holdRenewal: false,
    writesHang: false,
    writesFail: false,
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
      Effect.suspend(() =>
        state.writesHang
          ? Effect.never
          : state.writesFail
          ? Effect.fail(new TokenStore.TokenStoreError({ operation: "compareAndSet", key, description: "down" }))
          : inner.compareAndSet(key, token, expected)
      )
  })
  return { store, state }
}

/**
 * Alice's manager over a source that rotates her refresh token and, like a server with reuse detection,
 * refuses a refresh token presented again after it was answered (`reused`). The first answer comes 12 s
 * after the request (67 s), while the keep-alive renewal made at 65 s is unanswered: the store answers it
 * "no longer yours" `turns` scheduler turns before the server's answer lands. `afterAnswer` runs between
 * the answer and the source's return (a refreshed ID token being verified). The manager lives in `scope`.
 */
const alice = (options: { readonly turns: number; readonly afterAnswer?: Effect.Effect<void> | undefined }) =>
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
        const isFirst = server.presented.length === 1
        if (isFirst) {
          yield* Effect.sleep("12 seconds")
          state.answerRenewal()
          for (let i = 0; i < options.turns; i++) yield* Effect.yieldNow()
          firstAnswered = true
        }
        server.consumed.push(refreshToken)
        yield* answered.signal
        if (isFirst && options.afterAnswer !== undefined) yield* options.afterAnswer
        return tokenAt(server.consumed.length + 1, yield* TestClock.currentTimeMillis, 3600)
      }), { requiresRefreshToken: true })
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const manager = yield* TokenManager.makeWithSource().pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenSource.TokenSource, source),
      Scope.extend(scope)
    )
    yield* manager.set("alice", tokenAt(1, 0, 60))
    // Inside the refresh window: the refresh token leaves at 55 s, under a lease renewed at 65 s.
    yield* TestClock.adjust("55 seconds")
    const first = yield* Effect.fork(Effect.either(manager.get("alice")))
    yield* TestClock.adjust("1 second")
    assert.deepStrictEqual(server.presented, ["rt-1"])
    state.holdRenewal = true
    return { inner, manager, scope, state, server, first, firstAnswered: () => firstAnswered }
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

// The lease loss lands two turns before the answer: the exchange has the answer, its flight not yet.
describe("TokenManager: the lease lost as the server answers, and then", () => {
  const noneReused = (server: { readonly reused: ReadonlyArray<string> }) =>
    assert.deepStrictEqual(server.reused, [], "a consumed refresh token was presented again")

  it.scoped("the ID token verified for 30 s: the callers wait for it and get the rotated token", () =>
    Effect.gen(function*() {
      const { first, inner, manager, server } = yield* alice({ turns: 2, afterAnswer: Effect.sleep("30 seconds") })
      yield* TestClock.adjust("14 seconds")
      const second = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 minute")
      noneReused(server)
      assert.strictEqual(yield* storedRefreshToken(inner), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(first)), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(second)), "rt-2")
    }))

  it.scoped("the write failing: the token is served from memory and written once the store is back, never presented twice", () =>
    Effect.gen(function*() {
      const { first, inner, manager, server, state } = yield* alice({ turns: 2 })
      state.writesFail = true
      // The answer at 67 s; the write's quick retries are still under way 50 ms later.
      yield* TestClock.adjust("11 seconds")
      yield* TestClock.adjust("50 millis")
      const second = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(outcomeOf(yield* Fiber.join(first)), "rt-2", "the first caller was not served from memory")
      assert.strictEqual(yield* storedRefreshToken(inner), "rt-1")
      // Later callers wait for the write in the background before anything else.
      const third = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("5 seconds")
      state.writesFail = false
      yield* TestClock.adjust("1 minute")
      noneReused(server)
      assert.strictEqual(yield* storedRefreshToken(inner), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(second)), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(third)), "rt-2")
    }))

  it.scoped("the first caller interrupted: it goes at once, the next caller gets the rotated token", () =>
    Effect.gen(function*() {
      const { first, inner, manager, server, state } = yield* alice({ turns: 2 })
      state.writesHang = true
      yield* TestClock.adjust("12 seconds")
      yield* Fiber.interrupt(first)
      yield* TestClock.adjust("1 second")
      const second = yield* Effect.fork(Effect.either(manager.get("alice")))
      state.writesHang = false
      yield* TestClock.adjust("1 minute")
      noneReused(server)
      assert.strictEqual(yield* storedRefreshToken(inner), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(second)), "rt-2")
    }))

  it.scoped("the manager closed while the write hangs: it closes after its grace, its caller is let go, the lease released", () =>
    Effect.gen(function*() {
      const { first, inner, scope, state } = yield* alice({ turns: 2 })
      state.writesHang = true
      yield* TestClock.adjust("12 seconds")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      // The end waits for the write (it may hold the only copy of the rotated refresh token), 10 s at most.
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(closing)), "the manager did not wait for the write")
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(Option.isSome(yield* Fiber.poll(closing)), "the manager is still closing")
      const ended = yield* Fiber.poll(first)
      assert.isTrue(Option.isSome(ended), "the caller is still waiting")
      assert.isTrue(Option.isSome(ended) && Exit.isInterrupted(ended.value), "the caller did not end with the manager")
      assert.isTrue(yield* inner.acquireLease("alice", "another process", "30 seconds"), "the lease was left to lapse")
    }))
})

// Alice's manager over a real TokenEndpoint: the server rotates her refresh token (rt-1 to rt-2) at once
// and answers with an ID token whose key set does not answer for a minute (the endpoint's timeout).
const slowKeySet = Effect.gen(function*() {
  yield* TestClock.setTime(NOW * 1000)
  const idToken = Redacted.value(yield* sign(yield* signer("k1"), claims({ nonce: undefined })))
  const http = FakeHttp.make((request) =>
    request.url === JWKS_URI
      ? FakeHttp.never
      : FakeHttp.token({ access_token: "at-2", refresh_token: "rt-2", id_token: idToken })
  )
  const endpoint = yield* Endpoint.make(http, { jwksUri: JWKS_URI, timeout: "1 minute", backoff: { maxAttempts: 1 } })
  const inner = yield* TokenStore.makeMemory
  const { state, store } = faultyStore(inner)
  const manager = yield* TokenManager.make().pipe(
    Effect.provideService(TokenStore.TokenStore, store),
    Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
  )
  yield* manager.set("alice", tokenAt(1, NOW * 1000, 60))
  const presented = () => http.requests.flatMap((request) => request.form.getAll("refresh_token"))
  return { inner, manager, state, presented }
})

describe("TokenManager: the lease lost long after the server answered", () => {
  it.scoped("while the ID token is verified: the flight waits for the exchange all along, nothing is presented twice", () =>
    Effect.gen(function*() {
      const { inner, manager, presented, state } = yield* slowKeySet
      yield* TestClock.adjust("55 seconds")
      const first = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(presented(), ["rt-1"])
      // The renewal at 65 s is answered "no longer yours" at 66 s; the key set still has 49 s to go.
      state.holdRenewal = true
      yield* TestClock.adjust("10 seconds")
      state.answerRenewal()
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(first)), "the flight ended before its exchange")
      const second = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(presented(), ["rt-1"], "a consumed refresh token was presented again")
      assert.strictEqual(yield* storedRefreshToken(inner), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(first)), "rt-2")
      assert.strictEqual(outcomeOf(yield* Fiber.join(second)), "rt-2")
    }))
})
