/**
 * `TokenManager.set` (a login) and `TokenManager.revoke` (a disconnect) when the store hangs (a stuck
 * database connection) instead of failing: each store call they make is bounded like those of the
 * refresh protocol, a write that lands after its bound leaves no stale token in memory, and the
 * server's answer to a revocation is told even when the store fails.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as TestClock from "effect/TestClock"
import { access, endpointFor, login, makeServer, resource } from "./utils/authorizationServer.js"
import { hangingStore } from "./utils/hangingStore.js"

// Alice's manager over a hanging store (and the memory store under it), holding her first token.
const alice = Effect.gen(function*() {
  const server = yield* makeServer()
  const inner = yield* TokenStore.makeMemory
  const { land, state, store } = hangingStore(inner)
  const manager = yield* TokenManager.make().pipe(
    Effect.provideService(TokenStore.TokenStore, store),
    Effect.provideService(TokenEndpoint.TokenEndpoint, yield* endpointFor(server))
  )
  const events = yield* manager.subscribe
  const initial = yield* login(server)
  yield* manager.set("alice", initial)
  return { server, inner, state, land, manager, events, initial }
})

// Its outcome, once it has one: a call still waiting on the store fails the test.
const outcome = <A, E>(fiber: Fiber.RuntimeFiber<A, E>) =>
  Effect.gen(function*() {
    assert.isTrue(Option.isSome(yield* Fiber.poll(fiber)), "still waiting on the store")
    return yield* Effect.either(Fiber.join(fiber))
  })

const storeError = <A>(result: Either.Either<A, unknown>, operation: string) => {
  assert.isTrue(Either.isLeft(result), "no error")
  const error = Either.isLeft(result) ? result.left as TokenStore.StoreError : undefined
  assert.strictEqual(error?._tag, "TokenStoreError")
  assert.strictEqual(error?._tag === "TokenStoreError" ? error.operation : undefined, operation)
}

const stored = (inner: TokenStore.TokenStore["Type"]) =>
  Effect.map(inner.get("alice"), Option.map((entry) => access(entry.token)))

const events = (queue: Queue.Dequeue<TokenManager.Event>) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray)

describe("TokenManager: set and revoke when the store hangs", () => {
  it.scoped("a set whose write hangs fails with a TokenStoreError within 10 s", () =>
    Effect.gen(function*() {
      const { manager, server, state } = yield* alice
      state.setsHang = true
      const setting = yield* Effect.fork(manager.set("alice", yield* login(server)))
      yield* TestClock.adjust("10 seconds")
      storeError(yield* outcome(setting), "set")
    }))

  it.scoped("a set whose write times out, then lands: the next get serves the stored token, not the one held before", () =>
    Effect.gen(function*() {
      const { initial, inner, land, manager, server, state } = yield* alice
      const next = yield* login(server)
      state.setsHang = true
      const setting = yield* Effect.fork(manager.set("alice", next))
      yield* TestClock.adjust("10 seconds")
      storeError(yield* outcome(setting), "set")
      // The statement was on its way: it lands after its caller gave up on it.
      yield* land
      yield* Effect.yieldNow()
      assert.deepStrictEqual(yield* stored(inner), Option.some(access(next)))
      // Both tokens are fresh: only a read of the store tells which one is alice's now.
      assert.notStrictEqual(access(initial), access(next))
      assert.strictEqual(access(yield* manager.get("alice")), access(next))
    }))

  it.scoped("a set whose write times out and never lands: the next get serves the token still stored", () =>
    Effect.gen(function*() {
      const { initial, manager, server, state } = yield* alice
      state.setsHang = true
      const setting = yield* Effect.fork(manager.set("alice", yield* login(server)))
      yield* TestClock.adjust("10 seconds")
      storeError(yield* outcome(setting), "set")
      assert.strictEqual(access(yield* manager.get("alice")), access(initial))
    }))

  it.scoped("a revoke whose read hangs: the held token is revoked and removed within 10 s, then the read's error raised", () =>
    Effect.gen(function*() {
      const { events: queue, initial, inner, manager, server, state } = yield* alice
      state.readsHang = true
      const revoking = yield* Effect.fork(manager.revoke("alice"))
      yield* TestClock.adjust("10 seconds")
      storeError(yield* outcome(revoking), "get")
      assert.strictEqual((yield* server.stats).revocationRequests, 1)
      assert.strictEqual((yield* resource(server, initial.accessToken)).status, 401)
      assert.isTrue(Option.isNone(yield* stored(inner)))
      const revoked = (yield* events(queue)).filter((event) => event._tag === "Revoked")
      assert.deepStrictEqual(revoked.map((event) => event._tag === "Revoked" && event.atServer), [true])
    }))

  it.scoped("a revoke whose removal hangs: the removal's error within 10 s, the server's answer told by the Revoked event", () =>
    Effect.gen(function*() {
      const { events: queue, initial, manager, server, state } = yield* alice
      state.removesHang = true
      const revoking = yield* Effect.fork(manager.revoke("alice"))
      yield* TestClock.adjust("10 seconds")
      storeError(yield* outcome(revoking), "remove")
      assert.strictEqual((yield* resource(server, initial.accessToken)).status, 401)
      const revoked = (yield* events(queue)).filter((event) => event._tag === "Revoked")
      assert.deepStrictEqual(revoked.map((event) => event._tag === "Revoked" && event.atServer), [true])
    }))
})
