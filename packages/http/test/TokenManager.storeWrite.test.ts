/**
 * The write after the server answered a refresh, when the store's compare-and-set hangs (a stuck
 * database connection) instead of failing. With rotation the answer holds the only copy of the new
 * refresh token: a hung write must end like a failed one (served from memory, lease kept, written in
 * the background), never dropped with the lease let go. DESIGN.md, the refresh protocol, rule 4.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import type * as TokenManager from "@tokenfx/http/TokenManager"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import { access, login, makeServer, managerFor, requests, reusedRefreshTokens } from "./utils/authorizationServer.js"

// A store whose compare-and-set hangs: `hangs` writes never reach the store; `lostAnswers` writes
// are done and their answer never comes back. While `renewalsDown`, lease renewals fail.
const stuckStore = (inner: TokenStore.TokenStore["Type"]) => {
  const state = { hangs: 0, lostAnswers: 0, attempts: 0, renewalsDown: false }
  const store = TokenStore.TokenStore.of({
    ...inner,
    renewLease: (key, owner, ttl) =>
      state.renewalsDown
        ? Effect.fail(new TokenStore.TokenStoreError({ operation: "renewLease", key, description: "connection reset" }))
        : inner.renewLease(key, owner, ttl),
    compareAndSet: (key, token, expected) =>
      Effect.suspend(() => {
        state.attempts++
        if (state.hangs > 0) {
          state.hangs--
          return Effect.never
        }
        if (state.lostAnswers > 0) {
          state.lostAnswers--
          return Effect.zipRight(inner.compareAndSet(key, token, expected), Effect.never)
        }
        return inner.compareAndSet(key, token, expected)
      })
  })
  return { store, state }
}

// A manager over a memory store whose writes the test can make hang, or lose their answer.
const stuck = (options: TokenManager.Options) =>
  Effect.gen(function*() {
    const server = yield* makeServer()
    const inner = yield* TokenStore.makeMemory
    const { state, store } = stuckStore(inner)
    return { inner, state, ...(yield* managerFor(server, options, store)) }
  })

const tags = (queue: Queue.Dequeue<TokenManager.Event>) =>
  Effect.map(Queue.takeAll(queue), (events) => Chunk.toReadonlyArray(events).map((event) => event._tag))

const stored = (store: TokenStore.TokenStore["Type"]) =>
  Effect.map(store.get("alice"), (entry) => Option.getOrThrow(entry))

// Whether another holder could take alice's lease now; it lets go of it at once.
const leaseFree = (store: TokenStore.TokenStore["Type"]) =>
  Effect.gen(function*() {
    const free = yield* store.acquireLease("alice", "someone-else", "1 second")
    if (free) yield* store.releaseLease("alice", "someone-else")
    return free
  })

// The token a caller forked with `Effect.either` got: it must have answered by now, with a token.
const answered = <E extends { readonly _tag: string }>(caller: Fiber.RuntimeFiber<Either.Either<Token.Token, E>>) =>
  Effect.gen(function*() {
    assert.isTrue(Option.isSome(yield* Fiber.poll(caller)), "the caller is still waiting")
    const result = yield* Fiber.join(caller)
    if (Either.isLeft(result)) assert.fail(`the caller got ${result.left._tag}`)
    return Either.getOrThrow(result)
  })

describe("TokenManager: a hung store write after a refresh", () => {
  it.scoped("a write hung past refreshTimeout: the caller gets the rotated token, the lease is kept, and it is stored later", () =>
    Effect.gen(function*() {
      const { server, inner, state, events, manager } = yield* stuck({ refreshTimeout: "5 seconds" })
      const initial = yield* login(server)
      yield* manager.set("alice", initial)
      yield* TestClock.adjust("55 seconds")
      state.hangs = Infinity
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("5 seconds")
      const rotated = yield* answered(caller)
      assert.strictEqual(yield* requests(server), 1)
      assert.notStrictEqual(access(rotated), access(initial))
      assert.deepStrictEqual(yield* tags(events), ["Refreshed", "Rotated", "StoreWriteFailed"])
      assert.isFalse(yield* leaseFree(inner), "the lease was let go while the new token was only in memory")
      assert.strictEqual(access(yield* manager.get("alice")), access(rotated))
      // The store answers again: the write goes through in the background and the lease is let go.
      state.hangs = 0
      yield* TestClock.adjust("20 seconds")
      assert.includeMembers(yield* tags(events), ["StoreWriteRecovered"])
      assert.isTrue(Token.sameRefreshToken((yield* stored(inner)).token, rotated))
      assert.isTrue(yield* leaseFree(inner))
      // The next refresh presents the rotated refresh token, not the consumed one.
      yield* TestClock.adjust("30 seconds")
      const next = yield* manager.get("alice")
      assert.notStrictEqual(access(next), access(rotated))
      assert.strictEqual(yield* requests(server), 2)
      assert.strictEqual(yield* reusedRefreshTokens(server), 0, "the consumed refresh token was presented")
    }))

  it.scoped("an answer that comes just before the deadline: the caller is released at refreshTimeout with it", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ latency: "4 seconds" })
      const inner = yield* TokenStore.makeMemory
      const { state, store } = stuckStore(inner)
      const { manager } = yield* managerFor(server, { refreshTimeout: "5 seconds" }, store)
      const initial = yield* login(server)
      yield* manager.set("alice", initial)
      yield* TestClock.adjust("55 seconds")
      state.hangs = Infinity
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("4999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(caller)))
      yield* TestClock.adjust("1 millis")
      const token = yield* answered(caller)
      assert.notStrictEqual(access(token), access(initial))
      state.hangs = 0
      yield* TestClock.adjust("50 seconds")
      assert.isTrue(Token.sameRefreshToken((yield* stored(inner)).token, token))
    }))

  it.scoped("each write attempt is bounded: a write hung forever is tried again and again, the lease held throughout", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ accessTokenTtl: "1 hour" })
      const inner = yield* TokenStore.makeMemory
      const { state, store } = stuckStore(inner)
      const a = yield* managerFor(server, {}, store)
      const b = yield* managerFor(server, {}, store)
      yield* a.manager.set("alice", yield* login(server))
      yield* b.manager.get("alice")
      yield* TestClock.adjust("55 minutes")
      state.hangs = Infinity
      const caller = yield* Effect.fork(Effect.either(a.manager.get("alice")))
      // Well within the default refreshTimeout (90 s): each attempt gives up on its own.
      yield* TestClock.adjust("31 seconds")
      const rotated = yield* answered(caller)
      const before = state.attempts
      yield* TestClock.adjust("5 minutes")
      assert.isAbove(state.attempts, before + 2, "the background write stopped at a hung attempt")
      // B's token has expired: it waits for A's lease rather than present the consumed refresh token.
      const waiting = yield* Effect.fork(Effect.either(b.manager.get("alice")))
      yield* TestClock.adjust("40 seconds")
      const fromB = yield* Fiber.join(waiting)
      assert.isTrue(Either.isLeft(fromB) && fromB.left._tag === "LeaseTimeout", "B did not wait for A's lease")
      assert.strictEqual(yield* requests(server), 1)
      state.hangs = 0
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Token.sameRefreshToken((yield* stored(inner)).token, rotated))
      assert.strictEqual(access(yield* b.manager.get("alice")), access(rotated))
      assert.strictEqual(yield* requests(server), 1)
      assert.strictEqual(yield* reusedRefreshTokens(server), 0)
    }))

  it.scoped("a write that hangs once is tried again within the call: stored, and the lease let go", () =>
    Effect.gen(function*() {
      const { server, inner, state, events, manager } = yield* stuck({})
      yield* manager.set("alice", yield* login(server))
      yield* TestClock.adjust("55 seconds")
      state.hangs = 1
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("11 seconds")
      const token = yield* answered(caller)
      assert.deepStrictEqual(yield* tags(events), ["Refreshed", "Rotated"])
      const entry = yield* stored(inner)
      assert.strictEqual(entry.version, 2)
      assert.isTrue(Token.sameAccessToken(entry.token, token))
      assert.isTrue(yield* leaseFree(inner))
    }))

  it.scoped("a write done whose answer was lost: the next attempt finds the token stored and keeps it", () =>
    Effect.gen(function*() {
      const { server, inner, state, events, manager } = yield* stuck({})
      yield* manager.set("alice", yield* login(server))
      yield* TestClock.adjust("55 seconds")
      state.lostAnswers = 1
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("11 seconds")
      const token = yield* answered(caller)
      assert.deepStrictEqual(yield* tags(events), ["Refreshed", "Rotated"])
      const entry = yield* stored(inner)
      assert.strictEqual(entry.version, 2)
      assert.isTrue(Token.sameAccessToken(entry.token, token))
      assert.isTrue(yield* leaseFree(inner))
      yield* TestClock.adjust("55 seconds")
      yield* manager.get("alice")
      assert.strictEqual(yield* requests(server), 2)
      assert.strictEqual(yield* reusedRefreshTokens(server), 0)
    }))

  it.scoped("a hung write whose caller was interrupted: the rotated token is still stored", () =>
    Effect.gen(function*() {
      const { server, inner, state, manager } = yield* stuck({ refreshTimeout: "5 seconds" })
      const initial = yield* login(server)
      yield* manager.set("alice", initial)
      yield* TestClock.adjust("55 seconds")
      state.hangs = Infinity
      const caller = yield* Effect.fork(manager.get("alice"))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(caller)
      yield* TestClock.adjust("10 seconds")
      state.hangs = 0
      yield* TestClock.adjust("30 seconds")
      const entry = yield* stored(inner)
      assert.isFalse(Token.sameRefreshToken(entry.token, initial), "the rotated token was dropped")
      assert.strictEqual(access(yield* manager.get("alice")), access(entry.token))
      assert.strictEqual(yield* requests(server), 1)
      assert.strictEqual(yield* reusedRefreshTokens(server), 0)
    }))

  it.scoped("a hung write while the lease cannot be renewed: the write is not cut short, and the token is stored later", () =>
    Effect.gen(function*() {
      const server = yield* makeServer({ accessTokenTtl: "1 hour", latency: "1 second" })
      const inner = yield* TokenStore.makeMemory
      const { state, store } = stuckStore(inner)
      const { events, manager } = yield* managerFor(server, {}, store)
      const initial = yield* login(server)
      yield* manager.set("alice", initial)
      yield* TestClock.adjust("55 minutes")
      const caller = yield* Effect.fork(Effect.either(manager.get("alice")))
      // While the request is on the wire, the store gets stuck: the lease is given up for lost 20 s in,
      // in the middle of the write.
      yield* TestClock.adjust("500 millis")
      state.hangs = Infinity
      state.renewalsDown = true
      yield* TestClock.adjust("31 seconds")
      const rotated = yield* answered(caller)
      assert.notStrictEqual(access(rotated), access(initial), "served the old token: the rotated one was dropped")
      state.hangs = 0
      state.renewalsDown = false
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Token.sameRefreshToken((yield* stored(inner)).token, rotated), "the rotated token was dropped")
      assert.includeMembers(yield* tags(events), ["StoreWriteRecovered"])
      yield* TestClock.adjust("1 hour")
      const next = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      yield* answered(next)
      assert.strictEqual(yield* requests(server), 2)
      assert.strictEqual(yield* reusedRefreshTokens(server), 0)
    }))
})
