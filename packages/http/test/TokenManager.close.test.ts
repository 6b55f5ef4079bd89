/**
 * The manager's end (a CLI exiting, a server shutting down) while a refresh is under way. From the
 * server's answer on, the new token may be the only copy of a rotated refresh token: the store still
 * holds the consumed one, which a server with reuse detection answers by revoking the grant. So the end
 * lets a refresh under way finish (its refresh token sent, the server may have rotated it already) and
 * store its token, and a write retried in the background go on, for its grace (`closeGrace`); none
 * starts meanwhile, and a server or store that never answers holds the end up no longer than the grace,
 * with one error log that names the key and no secret (DESIGN.md, the refresh protocol: the rotated
 * result is durable before the lease is let go).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

const refreshTokenOf = (token: Token.Token) =>
  token.refreshToken === undefined ? "" : Redacted.value(token.refreshToken)

const tokenAt = (key: string, n: number, issuedAt: number, expiresIn: number) =>
  Token.make({
    access_token: Redacted.make(`${key}-at-${n}`),
    refresh_token: Redacted.make(`${key}-rt-${n}`),
    expires_in: expiresIn
  }, issuedAt)

type Writes = "ok" | "slow" | "fail" | "hang"

/**
 * Alice's (and Bob's) manager, living in `scope`, over a memory store whose writes are `ok`, take 3 s
 * (`slow`), fail or hang as `state.writes` says (lease acquisitions counted in `state.leases`), and a source that rotates refresh tokens, answering
 * after `state.answerAfter`. Both tokens were issued at 0 for a minute: at 55 s they are in their
 * refresh window. Every log line is kept in `logs`.
 */
const setup = (options?: TokenManager.Options) =>
  Effect.gen(function*() {
    const inner = yield* TokenStore.makeMemory
    const state = { writes: "ok" as Writes, answerAfter: "1 second" as Duration.DurationInput, leases: 0 }
    const store = TokenStore.TokenStore.of({
      ...inner,
      acquireLease: (key, owner, ttl) =>
        Effect.suspend(() => {
          state.leases++
          return inner.acquireLease(key, owner, ttl)
        }),
      compareAndSet: (key, token, expected) =>
        Effect.suspend(() => {
          switch (state.writes) {
            case "ok":
              return inner.compareAndSet(key, token, expected)
            case "slow":
              return Effect.delay(inner.compareAndSet(key, token, expected), "3 seconds")
            case "fail":
              return Effect.fail(
                new TokenStore.TokenStoreError({ operation: "compareAndSet", key, description: "disk full" })
              )
            case "hang":
              return Effect.never
          }
        })
    })
    const presented: Array<string> = []
    const answered: Array<string> = []
    const source = TokenSource.make((request) =>
      Effect.gen(function*() {
        const refreshToken = Option.match(request.token, { onNone: () => "", onSome: refreshTokenOf })
        presented.push(refreshToken)
        yield* Effect.sleep(state.answerAfter)
        answered.push(refreshToken)
        const n = answered.filter((rt) => rt.startsWith(request.key)).length + 1
        return tokenAt(request.key, n, yield* TestClock.currentTimeMillis, 3600)
      }), { requiresRefreshToken: true })
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const manager = yield* TokenManager.makeWithSource(options).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenSource.TokenSource, source),
      Scope.extend(scope)
    )
    yield* manager.set("alice", tokenAt("alice", 1, 0, 60))
    yield* manager.set("bob", tokenAt("bob", 1, 0, 60))
    yield* TestClock.adjust("55 seconds")
    const stored = (key: string) =>
      Effect.map(inner.get(key), Option.match({ onNone: () => "none", onSome: (entry) => refreshTokenOf(entry.token) }))
    return { inner, manager, scope, state, presented, answered, stored }
  })

const logs: Array<string> = []
const captured = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    logs.length = 0
    const logger = Logger.make(({ annotations, logLevel, message }) => {
      logs.push(Inspectable.format({ level: logLevel.label, message, annotations }))
    })
    return Effect.provide(self, Logger.replace(Logger.defaultLogger, logger))
  })

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => Effect.map(Fiber.poll(fiber), Option.isSome)

/**
 * Alice's refresh answered at 56 s with her store's writes as `writes` says, and the manager's end
 * begun half a second later, while the write is under way.
 */
const closedAfterAnswer = (writes: Writes, options?: TokenManager.Options) =>
  Effect.gen(function*() {
    const manager = yield* setup(options)
    manager.state.writes = writes
    const first = yield* Effect.fork(Effect.either(manager.manager.get("alice")))
    yield* TestClock.adjust("1500 millis")
    const closing = yield* Effect.fork(Scope.close(manager.scope, Exit.void))
    return { ...manager, first, closing }
  })

describe("TokenManager: closed while a refresh is under way", () => {
  it.scoped("the server has answered and the store is slow: the end waits, the rotated refresh token is stored", () =>
    Effect.gen(function*() {
      // Answered at 56 s; the write lands at 59 s.
      const { closing, first, stored } = yield* closedAfterAnswer("slow")
      yield* TestClock.adjust("1 second")
      assert.isFalse(yield* isDone(closing), "the manager ended before the answered token was stored")
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(yield* isDone(closing))
      assert.strictEqual(yield* stored("alice"), "alice-rt-2", "the rotated refresh token was lost")
      // The caller gets the new token, or is let go with the manager: never an error.
      const got = yield* Fiber.await(first)
      assert.isTrue(
        Exit.isInterrupted(got) || (Exit.isSuccess(got) && Either.isRight(got.value) &&
          refreshTokenOf(got.value.right) === "alice-rt-2"),
        String(got)
      )
    }))

  it.scoped("the write failed and is retried in the background: the end waits for it while the store comes back", () =>
    Effect.gen(function*() {
      const { manager, scope, state, stored } = yield* setup()
      state.writes = "fail"
      const first = yield* Effect.fork(manager.get("alice"))
      yield* TestClock.adjust("2 seconds")
      // Served from memory while the write is retried.
      assert.strictEqual(refreshTokenOf(yield* Fiber.join(first)), "alice-rt-2")
      assert.strictEqual(yield* stored("alice"), "alice-rt-1")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("4 seconds")
      assert.isFalse(yield* isDone(closing), "the manager ended before the retried write went through")
      state.writes = "ok"
      yield* TestClock.adjust("5 seconds")
      assert.isTrue(yield* isDone(closing))
      assert.strictEqual(yield* stored("alice"), "alice-rt-2", "the rotated refresh token was lost")
    }))

  it.scoped("a store that never answers holds the end up for the grace, then one error log names the key, no secret", () =>
    Effect.gen(function*() {
      const { closing, first, inner, stored } = yield* closedAfterAnswer("hang")
      yield* TestClock.adjust("9 seconds")
      assert.isFalse(yield* isDone(closing), "the manager ended before its grace (10 s by default)")
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* isDone(closing), "the manager outlived its grace")
      assert.strictEqual(yield* stored("alice"), "alice-rt-1")
      assert.isTrue(yield* isDone(first))
      const errors = logs.filter((line) => line.includes("ERROR") && line.includes("closed before"))
      assert.strictEqual(errors.length, 1, logs.join("\n"))
      assert.include(errors[0], "alice")
      const text = logs.join("\n")
      for (const secret of ["alice-at-2", "alice-rt-2", "alice-rt-1", "alice-at-1"]) assert.notInclude(text, secret)
      // The lease was let go: another process may refresh at once.
      assert.isTrue(yield* inner.acquireLease("alice", "another process", "30 seconds"), "the lease was left to lapse")
    }).pipe(captured))

  it.scoped("the wait itself interrupted (a second signal): the write is given up with it, nothing runs on", () =>
    Effect.gen(function*() {
      const { closing, state, stored } = yield* closedAfterAnswer("hang")
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(closing)
      // A write retried after the manager's end would land in a store its application has let go.
      state.writes = "ok"
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* stored("alice"), "alice-rt-1")
    }))

  it.scoped("the grace is `closeGrace`", () =>
    Effect.gen(function*() {
      const { closing } = yield* closedAfterAnswer("hang", { closeGrace: "2 seconds" })
      yield* TestClock.adjust("1900 millis")
      assert.isFalse(yield* isDone(closing))
      yield* TestClock.adjust("100 millis")
      assert.isTrue(yield* isDone(closing))
    }))

  it.scoped("a refresh the server has not answered yet is waited for and its answer stored; none starts meanwhile", () =>
    Effect.gen(function*() {
      const { manager, presented, scope, state, stored } = yield* setup()
      // Bob's refresh token is on its way when the end comes: the server may rotate it whatever we do.
      state.answerAfter = "3 seconds"
      const bob = yield* Effect.fork(Effect.either(manager.get("bob")))
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(presented, ["bob-rt-1"])
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("0 millis")
      assert.isFalse(yield* isDone(bob), "Bob's refresh was cut off while the server held his refresh token")
      // A caller during the wait gets no refresh: no lease is taken, no refresh token leaves any more.
      const leases = state.leases
      const late = yield* Effect.fork(Effect.either(manager.get("alice")))
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* isDone(late))
      assert.strictEqual(state.leases, leases, "a lease was taken while the manager was ending")
      assert.isFalse(yield* isDone(closing))
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* isDone(closing))
      assert.deepStrictEqual(presented, ["bob-rt-1"])
      assert.strictEqual(yield* stored("bob"), "bob-rt-2", "Bob's rotated refresh token was lost")
      assert.strictEqual(yield* stored("alice"), "alice-rt-1")
    }))

  it.scoped("a server that never answers holds the end up for the grace, then one error log names the key", () =>
    Effect.gen(function*() {
      const { inner, manager, scope, state, stored } = yield* setup()
      state.answerAfter = "1 hour"
      yield* Effect.fork(Effect.either(manager.get("bob")))
      yield* TestClock.adjust("1 second")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("9 seconds")
      assert.isFalse(yield* isDone(closing), "the manager ended before its grace")
      yield* TestClock.adjust("1 second")
      assert.isTrue(yield* isDone(closing), "the manager outlived its grace")
      assert.strictEqual(yield* stored("bob"), "bob-rt-1")
      const errors = logs.filter((line) => line.includes("ERROR") && line.includes("closed before the server answered"))
      assert.strictEqual(errors.length, 1, logs.join("\n"))
      assert.include(errors[0], "bob")
      for (const secret of ["bob-rt-1", "bob-at-1"]) assert.notInclude(logs.join("\n"), secret)
      assert.isTrue(yield* inner.acquireLease("bob", "another process", "30 seconds"), "the lease was left to lapse")
    }).pipe(captured))
})
