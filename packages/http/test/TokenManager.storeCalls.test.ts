/**
 * The store calls of the refresh protocol other than the write after a refresh, when the store hangs
 * (a stuck database connection) instead of failing: lease renewals, lease releases, the reads made while
 * another holder has the lease, and the read and removal after an `invalid_grant`. A hung call must end
 * like a failed one: no caller waits past its bound, and a lease the store no longer vouches for is given
 * up before another holder can take it (DESIGN.md, the refresh protocol, rules 2 and 3).
 */
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import {
  access,
  endpointFor,
  failNext,
  login,
  makeServer,
  reusedRefreshTokens,
  type Server
} from "./utils/authorizationServer.js"
import { hangingStore } from "./utils/hangingStore.js"

// A manager whose requests may take a minute: the server's latency is what keeps a refresh running.
const managerOver = (server: Server, store: TokenStore.TokenStore["Type"], options: TokenManager.Options = {}) =>
  Effect.flatMap(endpointFor(server, { timeout: "1 minute" }), (endpoint) =>
    TokenManager.make(options).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    ))

// Alice's manager over a hanging store (and the memory store under it), holding her first token.
const aliceOver = (serverOptions: Parameters<typeof makeServer>[0] = {}, options: TokenManager.Options = {}) =>
  Effect.gen(function*() {
    const server = yield* makeServer(serverOptions)
    const inner = yield* TokenStore.makeMemory
    const { state, store } = hangingStore(inner)
    const manager = yield* managerOver(server, store, options)
    const initial = yield* login(server)
    yield* manager.set("alice", initial)
    return { server, inner, state, manager, initial }
  })

const stillWaiting = <A>(fiber: Fiber.RuntimeFiber<A>) => Effect.map(Fiber.poll(fiber), Option.isNone)

const answer = <E>(fiber: Fiber.RuntimeFiber<Either.Either<Token.Token, E>>) =>
  Effect.gen(function*() {
    assert.isFalse(yield* stillWaiting(fiber), "the caller is still waiting")
    return yield* Fiber.join(fiber)
  })

describe("TokenManager: store calls that hang", () => {
  it.scoped("a renewal that hangs: the lease is given up before it can lapse, never presented while another may hold it", () =>
    Effect.gen(function*() {
      // The request stays on the wire for 40 s; the lease (30 s) lapses in the middle of it.
      const { inner, manager, server, state } = yield* aliceOver({ latency: "40 seconds" })
      const b = yield* managerOver(server, inner)
      yield* b.get("alice")
      yield* TestClock.adjust("55 seconds")
      const a = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      state.renewalsHang = true
      // 86 s: A's lease, last renewed at 55 s, has lapsed in the store.
      yield* TestClock.adjust("30 seconds")
      assert.isFalse(yield* stillWaiting(a), "A still believes it holds a lease that has lapsed")
      // B's token has expired: it takes the free lease and refreshes.
      const fromB = yield* Effect.fork(Effect.either(b.get("alice")))
      yield* TestClock.adjust("1 minute")
      const refreshed = yield* answer(fromB)
      assert.isTrue(Either.isRight(refreshed), "B got no token")
      assert.strictEqual(yield* reusedRefreshTokens(server), 0, "A and B both presented the refresh token")
    }))

  it.scoped("a release that hangs: the caller gets its token at once, the key is released when idle, and refreshes again", () =>
    Effect.gen(function*() {
      const { initial, inner, manager, state } = yield* aliceOver({}, { idleTimeToLive: "1 minute" })
      yield* TestClock.adjust("55 seconds")
      state.releasesHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 millis")
      const first = Either.getOrThrow(yield* answer(caller))
      assert.notStrictEqual(access(first), access(initial))
      assert.isAbove(state.releases, 0)
      // Nothing in flight any more: the idle sweep lets the key go.
      yield* TestClock.adjust("3 minutes")
      assert.deepStrictEqual(yield* manager.keys, [])
      // Loaded again and refreshed again, releases still hanging.
      const again = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("11 seconds")
      const second = Either.getOrThrow(yield* answer(again))
      assert.notStrictEqual(access(second), access(first))
      assert.strictEqual(access((yield* inner.get("alice")).pipe(Option.getOrThrow).token), access(second))
    }))

  it.scoped("a manager closed right after a refresh lets the lease go before it ends, not to lapse", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const inner = yield* TokenStore.makeMemory
      const { state, store } = hangingStore(inner)
      state.releaseDelay = "50 millis"
      const closing = yield* Deferred.make<void>()
      const closed = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
        const manager = yield* managerOver(server, store)
        yield* manager.set("alice", yield* login(server))
        yield* TestClock.adjust("55 seconds")
        const caller = yield* Effect.fork(manager.get("alice"))
        yield* TestClock.adjust("1 millis")
        yield* Fiber.join(caller)
        yield* Deferred.succeed(closing, void 0)
      })))
      // The refresh is done and the manager's scope is closing: the release is still on its way.
      yield* Deferred.await(closing)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closed)
      assert.strictEqual(state.releases, 1, "the release was never made")
      assert.isTrue(yield* inner.acquireLease("alice", "another process", "30 seconds"), "the lease was left to lapse")
    }))

  it.scoped("a read that hangs while another holds the lease, the held token valid: it is served within refreshTimeout", () =>
    Effect.gen(function*() {
      const { initial, inner, manager, state } = yield* aliceOver({}, { refreshTimeout: "3 seconds" })
      yield* TestClock.adjust("55 seconds")
      assert.isTrue(yield* inner.acquireLease("alice", "someone-else", "5 minutes"))
      state.readsHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("3 seconds")
      const served = yield* answer(caller)
      assert.strictEqual(access(Either.getOrThrow(served)), access(initial))
    }))

  it.scoped("a read that hangs while waiting for another's lease, no valid token: the caller is answered by leaseWait", () =>
    Effect.gen(function*() {
      const { manager, state, inner } = yield* aliceOver({}, { leaseWait: "20 seconds" })
      yield* TestClock.adjust("61 seconds")
      assert.isTrue(yield* inner.acquireLease("alice", "someone-else", "5 minutes"))
      state.readsHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("20 seconds")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome))
    }))

  it.scoped("a read that hangs after the lease was lost: the caller is answered, the refresh token never presented", () =>
    Effect.gen(function*() {
      const { manager, server, state } = yield* aliceOver({ latency: "40 seconds" }, { refreshTimeout: "2 minutes" })
      yield* TestClock.adjust("55 seconds")
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      // Another holder has the lease now; the store stops answering reads.
      state.renewalsLost = true
      state.readsHang = true
      yield* TestClock.adjust("20 seconds")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome))
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* reusedRefreshTokens(server), 0)
    }))

  it.scoped("a read that hangs with no token held: the caller gets a TokenStoreError within 10 s, and the token once the store answers", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const inner = yield* TokenStore.makeMemory
      const { state, store } = hangingStore(inner)
      const initial = yield* login(server)
      yield* inner.compareAndSet("alice", initial, undefined)
      // A manager that holds nothing for alice yet: its first get reads the store.
      const manager = yield* managerOver(server, store)
      state.readsHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("10 seconds")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "TokenStoreError", "no TokenStoreError")
      state.readsHang = false
      // Past the failure's backoff for a read of the store (a second).
      yield* TestClock.adjust("1 second")
      const next = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(access(Either.getOrThrow(yield* answer(next))), access(initial))
    }))

  it.scoped("a read that hangs where it cannot be interrupted (a connection being acquired): still a TokenStoreError within 10 s", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const inner = yield* TokenStore.makeMemory
      yield* inner.compareAndSet("alice", yield* login(server), undefined)
      // A driver that acquires its connection uninterruptibly, from a database that never answers.
      const store = TokenStore.TokenStore.of({ ...inner, get: () => Effect.uninterruptible(Effect.never) })
      const manager = yield* managerOver(server, store)
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("10 seconds")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "TokenStoreError", "no TokenStoreError")
    }))

  it.scoped("a lease acquisition that hangs, the held token valid: it is served, and refreshed once the store answers", () =>
    Effect.gen(function*() {
      // Each acquisition is given a third of leaseTtl: 3 s.
      const { initial, manager, state } = yield* aliceOver({}, { leaseTtl: "9 seconds" })
      yield* TestClock.adjust("55 seconds")
      state.acquiresHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("4 seconds")
      assert.strictEqual(access(Either.getOrThrow(yield* answer(caller))), access(initial))
      state.acquiresHang = false
      const next = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      assert.notStrictEqual(access(Either.getOrThrow(yield* answer(next))), access(initial))
    }))

  it.scoped("a read that hangs during a backoff with no valid token: the caller gets the remembered failure", () =>
    Effect.gen(function*() {
      const { manager, server, state } = yield* aliceOver()
      // Past the token's expiry, the server unavailable: the refresh fails, and the key backs off a minute.
      yield* TestClock.adjust("2 minutes")
      yield* failNext(server, "temporarily_unavailable", { count: 10, retryAfter: 60 })
      const first = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 millis")
      const failed = yield* answer(first)
      assert.isTrue(Either.isLeft(failed), "the refresh did not fail")
      // Within the backoff, past a read's interval: the next caller reads the store, and the read hangs.
      yield* TestClock.adjust("2 seconds")
      state.readsHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("10 seconds")
      assert.isFalse(yield* stillWaiting(caller), "the caller is still waiting")
      const outcome = yield* Fiber.join(caller)
      assert.isTrue(Either.isLeft(outcome))
      assert.deepStrictEqual(Either.isLeft(outcome) && outcome.left, Either.isLeft(failed) && failed.left)
    }))

  it.scoped("a read that hangs after invalid_grant: a TokenStoreError within 10 s, the token kept until the grant is known dead", () =>
    Effect.gen(function*() {
      const { inner, manager, server, state } = yield* aliceOver({ latency: "1 second" })
      yield* server.revokeAll
      yield* TestClock.adjust("54 seconds")
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      // Read under the lease, the request on the wire: the re-read after its invalid_grant hangs.
      yield* TestClock.adjust("500 millis")
      state.readsHang = true
      yield* TestClock.adjust("10500 millis")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "TokenStoreError", "no TokenStoreError")
      // Whether a sibling rotated the grant is unknown: nothing is removed yet.
      assert.isTrue(Option.isSome(yield* inner.get("alice")))
      state.readsHang = false
      yield* TestClock.adjust("1 second")
      const next = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      const dead = yield* answer(next)
      assert.isTrue(Either.isLeft(dead) && dead.left._tag === "ReconnectRequired", "no ReconnectRequired")
      assert.isTrue(Option.isNone(yield* inner.get("alice")))
    }))

  it.scoped("a removal that hangs after invalid_grant: ReconnectRequired within 10 s, not a RefreshTimeout", () =>
    Effect.gen(function*() {
      const { manager, server, state } = yield* aliceOver({ latency: "1 second" })
      yield* server.revokeAll
      yield* TestClock.adjust("54 seconds")
      state.removesHang = true
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("11 seconds")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "ReconnectRequired", "no ReconnectRequired")
    }))

  it.scoped("a read that hangs after an answered refresh ends in invalid_grant (past refreshTimeout's reach): a TokenStoreError within 10 s", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ latency: "1 second" })
      const inner = yield* TokenStore.makeMemory
      const { state, store } = hangingStore(inner)
      const endpoint = yield* endpointFor(server)
      // A custom grant: the refresh is answered (nothing may drop the answer, refreshTimeout included),
      // then a second exchange of the new token is refused.
      const source = TokenManager.custom((request) =>
        Effect.zipRight(
          endpoint.refresh(Option.getOrThrow(request.token)),
          Effect.fail(new OAuthError.InvalidGrant({ description: "the exchange refused the refreshed token" }))
        )
      )
      // A lease long enough that no renewal ends the wait first.
      const manager = yield* TokenManager.make({ source, leaseTtl: "5 minutes" }).pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      yield* manager.set("alice", yield* login(server))
      yield* TestClock.adjust("54 seconds")
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("500 millis")
      state.readsHang = true
      yield* TestClock.adjust("10500 millis")
      const outcome = yield* answer(caller)
      assert.isTrue(Either.isLeft(outcome) && outcome.left._tag === "TokenStoreError", "no TokenStoreError")
    }))
})
