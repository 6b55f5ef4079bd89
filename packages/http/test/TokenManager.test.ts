import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenHealth from "@tokenfx/core/TokenHealth"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenManager from "@tokenfx/http/TokenManager"
import type * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Array from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import {
  access,
  failNext,
  login,
  makeServer,
  managerFor,
  requests,
  resource,
  reusedRefreshTokens,
  tokenAt
} from "./utils/authorizationServer.js"

// A manager over a new in-memory authorization server (60-second access tokens) and a new store.
const setup = (options: TokenManager.Options = {}, server: AuthorizationServer.Options = {}) =>
  Effect.flatMap(makeServer(server), (server) => managerFor(server, options))

const refreshes = requests

const drain = <A>(queue: Queue.Dequeue<A>) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray)

const tags = (events: ReadonlyArray<TokenManager.Event>) => events.map((event) => event._tag)

const storedVersion = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), Option.map((entry) => entry.version))

const refreshTokenOf = (token: Token.Token) =>
  token.refreshToken === undefined ? undefined : Redacted.value(token.refreshToken)

describe("TokenManager", () => {
  describe("get", () => {
    it.scoped("loads the stored token and serves it without another store read", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup()
        const first = yield* login(server)
        yield* store.set("alice", first)
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        yield* store.remove("alice")
        // The hot path reads memory: the store is not consulted while the token is fresh.
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 0)
      }))

    it.scoped("refreshes at exactly the policy's instant: not one millisecond before", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        assert.strictEqual(DateTime.toEpochMillis(Expiry.refreshAt(first)!), 54_000)
        yield* TestClock.adjust(53_999)
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 0)
        yield* TestClock.adjust(1)
        const second = yield* manager.get("alice")
        assert.notStrictEqual(access(second), access(first))
        assert.strictEqual(access(yield* manager.get("alice")), access(second))
        assert.strictEqual(yield* refreshes(server), 1)
        // The refresh presented the first refresh token, which the server rotated.
        assert.notStrictEqual(refreshTokenOf(second), refreshTokenOf(first))
        assert.strictEqual(yield* reusedRefreshTokens(server), 0)
        const stored = Option.getOrThrow(yield* store.get("alice"))
        assert.strictEqual(access(stored.token), access(second))
      }))

    it.scoped("one get effect, run again later, decides afresh each time", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const get = manager.get("alice")
        assert.strictEqual(access(yield* get), access(first))
        yield* TestClock.adjust("54 seconds")
        assert.notStrictEqual(access(yield* get), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("honours a custom policy", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ policy: Expiry.policy({ fraction: 0.5 }) })
        yield* manager.set("alice", yield* login(server))
        yield* TestClock.adjust(29_999)
        yield* manager.get("alice")
        assert.strictEqual(yield* refreshes(server), 0)
        yield* TestClock.adjust(1)
        yield* manager.get("alice")
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("10,000 concurrent gets at expiry make one token endpoint call and share its result", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({}, { latency: "100 millis" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("60 seconds")
        const fiber = yield* Effect.forEach(Array.range(1, 10_000), () => manager.get("alice"), {
          concurrency: "unbounded"
        }).pipe(Effect.fork)
        yield* TestClock.adjust("100 millis")
        const tokens = yield* Fiber.join(fiber)
        assert.strictEqual(tokens.length, 10_000)
        assert.strictEqual(yield* refreshes(server), 1)
        const second = access(tokens[0])
        assert.notStrictEqual(second, access(first))
        assert.isTrue(tokens.every((token) => access(token) === second))
      }))

    it.scoped("concurrent callers share a failure too, and an interrupted caller does not cancel the refresh", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({}, { latency: "1 second" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("60 seconds")
        yield* failNext(server, "server_error")
        const interrupted = yield* Effect.fork(manager.get("alice"))
        const others = yield* Effect.fork(Effect.forEach(Array.range(1, 50), () => Effect.flip(manager.get("alice")), {
          concurrency: "unbounded"
        }))
        yield* TestClock.adjust("10 millis")
        yield* Fiber.interrupt(interrupted)
        yield* TestClock.adjust("1 second")
        const errors = yield* Fiber.join(others)
        assert.isTrue(errors.every((error) => error._tag === "ServerError"))
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a transient failure keeps a still-valid token, backs off, then tries again", () =>
      Effect.gen(function*() {
        const { events, manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* failNext(server, "temporarily_unavailable")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
        const failed = (yield* drain(events)).filter(TokenManager.Event.$is("RefreshFailed"))
        assert.strictEqual(failed.length, 1)
        assert.strictEqual(failed[0].error, "TemporarilyUnavailable")
        assert.isTrue(failed[0].tokenStillValid)
        // Within the backoff (1 second) the valid token is served from memory, with no new attempt.
        yield* TestClock.adjust(999)
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
        yield* TestClock.adjust(1)
        assert.notStrictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 2)
      }))

    it.scoped("only an expired token makes get fail, with the refresh's error", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        yield* failNext(server, "server_error", { count: 10 })
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust("6 seconds")
        const error = yield* Effect.flip(manager.get("alice"))
        assert.strictEqual(error._tag, "ServerError")
        // During the backoff the error is served again without a new attempt.
        const calls = yield* refreshes(server)
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ServerError")
        assert.strictEqual(yield* refreshes(server), calls)
      }))

    it.scoped("a rate limit's Retry-After lengthens the backoff", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* failNext(server, "rate_limited", { retryAfter: 5 })
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust(4_999)
        yield* manager.get("alice")
        assert.strictEqual(yield* refreshes(server), 1)
        yield* TestClock.adjust(1)
        assert.notStrictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 2)
      }))
  })

  describe("rotation", () => {
    it.scoped("writes every new token by compare-and-set on the version read before the refresh", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        let previous = yield* login(server)
        yield* manager.set("alice", previous)
        assert.deepStrictEqual(yield* storedVersion(store, "alice"), Option.some(1))
        for (let round = 2; round <= 4; round++) {
          yield* TestClock.adjust("54 seconds")
          const token = yield* manager.get("alice")
          assert.notStrictEqual(access(token), access(previous))
          const stored = Option.getOrThrow(yield* store.get("alice"))
          assert.strictEqual(stored.version, round)
          assert.isTrue(Token.sameRefreshToken(stored.token, token))
          assert.notStrictEqual(refreshTokenOf(stored.token), refreshTokenOf(previous))
          previous = token
        }
        const log = yield* drain(events)
        assert.deepStrictEqual(tags(log), ["Refreshed", "Rotated", "Refreshed", "Rotated", "Refreshed", "Rotated"])
        assert.deepStrictEqual(log.filter(TokenManager.Event.$is("Rotated")).map((event) => event.version), [2, 3, 4])
        // Each refresh presented the latest refresh token: a rotated one presented again would be refused.
        assert.strictEqual(yield* refreshes(server), 3)
        assert.strictEqual(yield* reusedRefreshTokens(server), 0)
      }))

    it.scoped("a lost compare-and-set adopts the token the other writer stored", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup({}, { latency: "1 second" })
        yield* manager.set("alice", yield* login(server))
        yield* TestClock.adjust("54 seconds")
        const mine = yield* Effect.fork(manager.get("alice"))
        yield* TestClock.adjust("500 millis")
        // A login elsewhere replaces the token while our refresh is on the wire.
        const other = yield* login(server)
        yield* store.set("alice", other)
        yield* TestClock.adjust("500 millis")
        assert.strictEqual(access(yield* Fiber.join(mine)), access(other))
        assert.strictEqual(access(Option.getOrThrow(yield* store.get("alice")).token), access(other))
        assert.deepStrictEqual(tags(yield* drain(events)), ["Adopted"])
      }))

    it.scoped("invalid_grant after another holder rotated the refresh token adopts the stored token", () =>
      Effect.gen(function*() {
        const { endpoint, events, manager, server, store } = yield* setup({}, { latency: "1 second" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("54 seconds")
        // Another holder (ignoring leases) rotates first and stores while our refresh is on the wire.
        const other = yield* Effect.fork(
          Effect.tap(endpoint.refresh(first), (token) => store.set("alice", token))
        )
        yield* TestClock.adjust("10 millis")
        const mine = yield* Effect.fork(manager.get("alice"))
        yield* TestClock.adjust("1 second")
        const rotated = yield* Fiber.join(other)
        assert.strictEqual(access(yield* Fiber.join(mine)), access(rotated))
        // Ours presented the rotated refresh token: refused.
        assert.strictEqual(yield* refreshes(server), 2)
        assert.strictEqual(yield* reusedRefreshTokens(server), 1)
        assert.deepStrictEqual(yield* storedVersion(store, "alice"), Option.some(2))
        assert.deepStrictEqual(tags(yield* drain(events)), ["Adopted"])
      }))

    it.scoped("invalid_grant with no rotation in the store empties it and raises ReconnectRequired, once", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        yield* server.revokeAll
        yield* TestClock.adjust("54 seconds")
        const error = yield* Effect.flip(manager.get("alice"))
        assert.strictEqual(error._tag, "ReconnectRequired")
        assert.strictEqual((error as OAuthError.ReconnectRequired).key, "alice")
        assert.include(error.message, "invalid_grant")
        assert.isTrue(Option.isNone(yield* store.get("alice")))
        assert.strictEqual(yield* refreshes(server), 1)
        assert.deepStrictEqual(tags(yield* drain(events)), ["ReconnectRequired"])
        // No retry loop: the next call finds no token and does not call the server.
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
        assert.strictEqual(yield* refreshes(server), 1)
        // A new login makes the key usable again.
        const again = yield* login(server)
        yield* manager.set("alice", again)
        assert.strictEqual(access(yield* manager.get("alice")), access(again))
      }))

    it.scoped("a stored token whose refresh is not ours to remove survives invalid_grant", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup({}, { latency: "1 second" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* server.revokeAll
        yield* TestClock.adjust("54 seconds")
        const mine = yield* Effect.fork(Effect.flip(manager.get("alice")))
        yield* TestClock.adjust("500 millis")
        // A login replaces the token (same refresh token reused by a buggy client: no rotation seen).
        yield* store.set("alice", tokenAt(54_500, "at-new", refreshTokenOf(first)))
        yield* TestClock.adjust("500 millis")
        assert.strictEqual((yield* Fiber.join(mine))._tag, "ReconnectRequired")
        // The conditional remove did not delete the newer entry.
        assert.strictEqual(access(Option.getOrThrow(yield* store.get("alice")).token), "at-new")
      }))
  })

  describe("invalidate", () => {
    it.scoped("marks exactly that token: one refresh for many invalidations, none for a replaced token", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        const first = yield* manager.get("alice")
        yield* Effect.forEach(Array.range(1, 20), () => manager.invalidate("alice", first), {
          concurrency: "unbounded"
        })
        const tokens = yield* Effect.forEach(Array.range(1, 20), () => manager.get("alice"), {
          concurrency: "unbounded"
        })
        const second = access(tokens[0])
        assert.notStrictEqual(second, access(first))
        assert.isTrue(tokens.every((token) => access(token) === second))
        assert.strictEqual(yield* refreshes(server), 1)
        // A late 401 for the replaced token changes nothing.
        yield* manager.invalidate("alice", first)
        assert.strictEqual(access(yield* manager.get("alice")), second)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("an invalidated token is never served again, even when the refresh fails", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        const first = yield* manager.get("alice")
        yield* failNext(server, "server_error", { status: 502 })
        yield* manager.invalidate("alice", first)
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ServerError")
      }))

    // Each write takes 600 ms to be confirmed (a loaded database).
    const slowWrites = Effect.map(TokenStore.makeMemory, (inner) =>
      TokenStore.TokenStore.of({
        ...inner,
        compareAndSet: (key, token, expected) => Effect.delay(inner.compareAndSet(key, token, expected), "600 millis")
      }))

    // A 401 on the token a 401 just led to is taken for a resource that rejects fresh tokens too, for a
    // quarter of that token's lifetime counted from its issue, not from when its write was confirmed.
    const rejectedTwice = (ttl: Duration.DurationInput) =>
      Effect.gen(function*() {
        const server = yield* makeServer({ accessTokenTtl: Duration.decode(ttl) })
        const { manager } = yield* managerFor(server, {}, yield* slowWrites)
        yield* manager.set("alice", yield* login(server))
        assert.isTrue(yield* manager.invalidate("alice", yield* manager.get("alice")))
        const issuedAt = yield* Clock.currentTimeMillis
        const refreshed = yield* Effect.fork(manager.get("alice"))
        yield* TestClock.adjust("600 millis")
        const second = yield* Fiber.join(refreshed)
        assert.strictEqual(DateTime.toEpochMillis(second.issuedAt), issuedAt)
        const at = (millis: number) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => TestClock.adjust(issuedAt + millis - now))
        const next = Effect.gen(function*() {
          const fiber = yield* Effect.fork(manager.get("alice"))
          yield* TestClock.adjust("600 millis")
          return yield* Fiber.join(fiber)
        })
        return { at, manager, next, second, server }
      })

    it.scoped("a 401 coalesced with the refresh a 401 led to: for a quarter of the new token's life from its issue", () =>
      Effect.gen(function*() {
        const { at, manager, next, second, server } = yield* rejectedTwice("60 seconds")
        yield* at(14_999)
        assert.isFalse(yield* manager.invalidate("alice", second))
        yield* at(15_000)
        assert.isTrue(yield* manager.invalidate("alice", second))
        assert.notStrictEqual(access(yield* next), access(second))
        assert.strictEqual(yield* refreshes(server), 2)
      }))

    it.scoped("a short-lived token a server retired early gets its refresh after a 401, however slow its write", () =>
      Effect.gen(function*() {
        const { at, manager, next, second, server } = yield* rejectedTwice("2 seconds")
        // A server counting whole seconds may retire a 2-second token one second after issuing it: a
        // 401 then is an expired token's, not a fresh token's, and the retry must get a new one.
        yield* at(1_000)
        assert.isTrue(yield* manager.invalidate("alice", second))
        assert.notStrictEqual(access(yield* next), access(second))
        assert.strictEqual(yield* refreshes(server), 2)
      }))

    it.scoped("a token without expiry is refreshed only after a 401", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ idleTimeToLive: "30 days" }, { accessTokenTtl: Duration.infinity })
        const issued = yield* login(server)
        assert.isUndefined(issued.expiresAt)
        yield* manager.set("alice", issued)
        yield* TestClock.adjust("7 days")
        const first = yield* manager.get("alice")
        assert.strictEqual(access(first), access(issued))
        assert.strictEqual(yield* refreshes(server), 0)
        yield* manager.invalidate("alice", first)
        assert.notStrictEqual(access(yield* manager.get("alice")), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
      }))
  })

  describe("sources", () => {
    it.scoped("client credentials: a new grant when nothing is stored and at every expiry", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup({ source: TokenManager.clientCredentials() })
        const first = access(yield* manager.get("svc"))
        assert.deepStrictEqual(yield* storedVersion(store, "svc"), Option.some(1))
        yield* TestClock.adjust("53 seconds")
        assert.strictEqual(access(yield* manager.get("svc")), first)
        yield* TestClock.adjust("1 second")
        const second = access(yield* manager.get("svc"))
        assert.notStrictEqual(second, first)
        assert.deepStrictEqual(yield* storedVersion(store, "svc"), Option.some(2))
        assert.strictEqual(yield* requests(server, "client_credentials"), 2)
        assert.strictEqual(yield* refreshes(server), 0)
      }))

    it.scoped("a custom source receives the key and the stored token", () =>
      Effect.gen(function*() {
        const seen: Array<string> = []
        const source = TokenManager.custom(({ key, token }) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            seen.push(`${key}:${Option.match(token, { onNone: () => "none", onSome: access })}`)
            return tokenAt(now, `custom-${seen.length}`)
          })
        )
        const { manager } = yield* setup({ source })
        assert.strictEqual(access(yield* manager.get("x")), "custom-1")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(access(yield* manager.get("x")), "custom-2")
        assert.deepStrictEqual(seen, ["x:none", "x:custom-1"])
      }))

    it.scoped("the refresh token source: no stored token is ReconnectRequired, no refresh token is used until expiry", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const missing = yield* Effect.flip(manager.get("nobody"))
        assert.strictEqual(missing._tag, "ReconnectRequired")
        yield* manager.set("bob", tokenAt(0, "at-bob"))
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(access(yield* manager.get("bob")), "at-bob")
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Effect.flip(manager.get("bob")))._tag, "ReconnectRequired")
        assert.strictEqual(yield* refreshes(server), 0)
      }))
  })

  describe("background refresh", () => {
    it.scoped("refreshes at the refresh instant with no caller, and stops when its scope closes", () =>
      Effect.gen(function*() {
        const server = yield* makeServer()
        const scope = yield* Scope.make()
        const { manager, store } = yield* managerFor(server, { backgroundRefresh: true, jitter: 0 }).pipe(
          Scope.extend(scope)
        )
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust(53_999)
        assert.strictEqual(yield* refreshes(server), 0)
        yield* TestClock.adjust(1)
        assert.strictEqual(yield* refreshes(server), 1)
        const second = access(Option.getOrThrow(yield* store.get("alice")).token)
        assert.notStrictEqual(second, access(first))
        // The caller is served from memory: the refresh already happened.
        assert.strictEqual(access(yield* manager.get("alice")), second)
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(yield* refreshes(server), 2)
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(yield* refreshes(server), 2)
      }))

    it.scoped("runs early by at most the jitter's share of the refresh window", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0.5 })
        yield* manager.set("alice", yield* login(server))
        // Window: 6 s before expiry; jitter 0.5 of it: between 51 s and 54 s.
        yield* TestClock.adjust(50_999)
        assert.strictEqual(yield* refreshes(server), 0)
        yield* TestClock.adjust(3_001)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("retries a failed background refresh after the backoff", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0 })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* failNext(server, "server_error")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(yield* refreshes(server), 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* refreshes(server), 2)
        assert.notStrictEqual(access(yield* manager.get("alice")), access(first))
      }))
  })

  describe("leases", () => {
    it.scoped("two managers sharing one store refresh once per expiry", () =>
      Effect.gen(function*() {
        const server = yield* makeServer({ latency: "200 millis" })
        const store = yield* TokenStore.makeMemory
        const a = yield* managerFor(server, {}, store)
        const b = yield* managerFor(server, {}, store)
        const first = yield* login(server)
        yield* a.manager.set("alice", first)
        let previous = access(first)
        for (let round = 2; round <= 4; round++) {
          yield* TestClock.adjust("54 seconds")
          const fiber = yield* Effect.all([
            Effect.forEach(Array.range(1, 100), () => a.manager.get("alice"), { concurrency: "unbounded" }),
            Effect.forEach(Array.range(1, 100), () => b.manager.get("alice"), { concurrency: "unbounded" })
          ], { concurrency: "unbounded" }).pipe(Effect.fork)
          yield* TestClock.adjust("1 second")
          const [fromA, fromB] = yield* Fiber.join(fiber)
          const next = access(Option.getOrThrow(yield* store.get("alice")).token)
          assert.notStrictEqual(next, previous)
          // Whoever lost the lease race serves its still-valid token rather than wait, then adopts.
          assert.isTrue([...fromA, ...fromB].every((token) => [next, previous].includes(access(token))))
          assert.strictEqual(yield* refreshes(server), round - 1)
          yield* TestClock.adjust("1 second")
          assert.strictEqual(access(yield* a.manager.get("alice")), next)
          assert.strictEqual(access(yield* b.manager.get("alice")), next)
          previous = next
        }
        assert.strictEqual(yield* reusedRefreshTokens(server), 0)
        const adopted = [...(yield* drain(a.events)), ...(yield* drain(b.events))].filter(
          TokenManager.Event.$is("Adopted")
        )
        assert.strictEqual(adopted.length, 3)
      }))

    it.scoped("a holder that finds a fresher token under the lease adopts it without calling the server", () =>
      Effect.gen(function*() {
        const server = yield* makeServer()
        const store = yield* TokenStore.makeMemory
        const a = yield* managerFor(server, {}, store)
        const b = yield* managerFor(server, {}, store)
        const first = yield* login(server)
        yield* a.manager.set("alice", first)
        assert.strictEqual(access(yield* b.manager.get("alice")), access(first))
        yield* TestClock.adjust("54 seconds")
        const second = access(yield* a.manager.get("alice"))
        assert.notStrictEqual(second, access(first))
        assert.strictEqual(access(yield* b.manager.get("alice")), second)
        assert.strictEqual(yield* refreshes(server), 1)
        assert.deepStrictEqual(tags(yield* drain(b.events)), ["Adopted"])
      }))

    it.scoped("a busy lease: the still-valid token at once, LeaseTimeout after a bounded wait once it expired", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup({ leaseTtl: "10 seconds", leaseWait: "3 seconds" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        // Another process took the lease and hangs.
        assert.isTrue(yield* store.acquireLease("alice", "someone-else", "1 hour"))
        yield* TestClock.adjust("54 seconds")
        // No wait while the token is valid, and no failure either: a sibling is refreshing.
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        assert.deepStrictEqual(tags(yield* drain(events)), [])
        yield* TestClock.adjust("1 minute")
        const expired = yield* Effect.fork(Effect.flip(manager.get("alice")))
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(expired)
        assert.strictEqual(error._tag, "LeaseTimeout")
        assert.strictEqual(yield* refreshes(server), 0)
      }))

    it.scoped("a lease left by a crashed holder expires and is taken over", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup({ leaseTtl: "10 seconds" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("54 seconds")
        assert.isTrue(yield* store.acquireLease("alice", "crashed", "10 seconds"))
        assert.strictEqual(access(yield* manager.get("alice")), access(first))
        // Expired at 60 s: now the caller waits, until the crashed holder's lease lapses at 64 s.
        yield* TestClock.adjust("6 seconds")
        const fiber = yield* Effect.fork(manager.get("alice"))
        // Second by second, so that a waiter that reaches its sleep late (a loaded machine) is still
        // woken; the takeover must come within a few seconds of the lapse, not at the wait's timeout.
        let done = yield* Fiber.poll(fiber)
        for (let second = 0; second < 30 && Option.isNone(done); second++) {
          yield* TestClock.adjust("1 second")
          done = yield* Fiber.poll(fiber)
        }
        assert.isAtMost(yield* Clock.currentTimeMillis, 68_000)
        assert.notStrictEqual(access(yield* Fiber.join(fiber)), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
      }))
  })

  describe("set, revoke, events, keys", () => {
    it.scoped("revoke revokes the refresh token (else the access token) and removes the token", () =>
      Effect.gen(function*() {
        const { endpoint, events, manager, server, store } = yield* setup()
        const alice = yield* login(server)
        const bob = yield* server.issueToken({ subject: "bob", refreshToken: false })
        yield* manager.set("alice", alice)
        yield* manager.set("bob", bob)
        yield* manager.revoke("alice")
        yield* manager.revoke("bob")
        assert.strictEqual((yield* server.stats).revocationRequests, 2)
        // Alice's refresh token went, and her grant with it; Bob's access token went.
        assert.strictEqual((yield* Effect.flip(endpoint.refresh(alice)))._tag, "InvalidGrant")
        assert.strictEqual((yield* resource(server, bob.accessToken)).status, 401)
        assert.strictEqual(yield* store.size, 0)
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
        assert.deepStrictEqual(tags(yield* drain(events)), ["Revoked", "Revoked"])
      }))

    it.scoped("events and logs carry no secret", () =>
      Effect.gen(function*() {
        const logs: Array<string> = []
        const { events, manager, server, store } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* failNext(server, "server_error")
        yield* TestClock.adjust("54 seconds")
        const logger = Logger.make(({ annotations, message }) => {
          logs.push(Inspectable.format({ message, annotations }))
        })
        yield* manager.get("alice").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        yield* TestClock.adjust("1 second")
        yield* manager.get("alice")
        const second = Option.getOrThrow(yield* store.get("alice")).token
        yield* manager.revoke("alice")
        const log = yield* drain(events)
        assert.deepStrictEqual(tags(log), ["RefreshFailed", "Refreshed", "Rotated", "Revoked"])
        const text = Inspectable.format(log) + JSON.stringify(log) + logs.join("\n")
        assert.isAbove(logs.length, 0)
        for (const secret of [access(first), access(second), refreshTokenOf(first), refreshTokenOf(second)]) {
          assert.isDefined(secret)
          assert.notInclude(text, secret)
        }
      }))

    it.scoped("counts refreshes, failures and adoptions with metrics", () =>
      Effect.gen(function*() {
        const before = yield* Effect.all([
          Metric.value(Metric.taggedWithLabels(Telemetry.refreshes, [Telemetry.clientLabel(undefined)])),
          Metric.value(Metric.taggedWithLabels(Telemetry.refreshFailures, [
            Telemetry.clientLabel(undefined),
            MetricLabel.make("error", "ServerError")
          ]))
        ])
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        yield* failNext(server, "server_error")
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust("1 second")
        yield* manager.get("alice")
        const after = yield* Effect.all([
          Metric.value(Metric.taggedWithLabels(Telemetry.refreshes, [Telemetry.clientLabel(undefined)])),
          Metric.value(Metric.taggedWithLabels(Telemetry.refreshFailures, [
            Telemetry.clientLabel(undefined),
            MetricLabel.make("error", "ServerError")
          ]))
        ])
        assert.strictEqual(after[0].count - before[0].count, 1)
        assert.strictEqual(after[1].count - before[1].count, 1)
      }))

    it.scoped("spans only on the slow path, with the key and no secret", () =>
      Effect.gen(function*() {
        const spans: Array<string> = []
        const native = yield* Effect.tracer
        const tracer = Tracer.make({
          span: (name, parent, context, links, startTime, kind, options) => {
            spans.push(`${name} ${Inspectable.format(options?.attributes ?? {})}`)
            return native.span(name, parent, context, links, startTime, kind, options)
          },
          context: (f, fiber) => native.context(f, fiber)
        })
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("54 seconds")
        yield* Effect.withTracer(manager.get("alice"), tracer)
        const slow = spans.length
        // One span for the refresh; callers waiting for it take none of their own.
        assert.isFalse(spans.some((span) => span.startsWith("TokenManager.get")))
        assert.isTrue(spans.some((span) => span.startsWith("TokenManager.refresh")))
        // The manager's spans name the key; no span (the endpoint's and the HTTP client's included) a secret.
        assert.isTrue(spans.filter((span) => span.startsWith("TokenManager.")).every((span) => span.includes("alice")))
        const secrets = [access(first), refreshTokenOf(first) ?? ""]
        assert.isTrue(spans.every((span) => secrets.every((secret) => !span.includes(secret))))
        yield* Effect.withTracer(Effect.repeatN(manager.get("alice"), 9), tracer)
        assert.strictEqual(spans.length, slow)
      }))

    it.scoped("the events stream delivers events to a running consumer", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const collected = yield* manager.events.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.yieldNow()
        yield* manager.set("alice", yield* login(server))
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        assert.deepStrictEqual(tags(Chunk.toReadonlyArray(yield* Fiber.join(collected))), ["Refreshed", "Rotated"])
      }))

    it.scoped("one manager serves many keys, and releases the state of idle keys", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0, idleTimeToLive: "5 minutes" })
        const users = Array.range(1, 50).map((n) => `user-${n}`)
        const issued: Array<string> = []
        for (const user of users) {
          const token = yield* login(server, user)
          issued.push(access(token))
          yield* manager.set(user, token)
        }
        const tokens = yield* Effect.forEach(users, (user) => manager.get(user), { concurrency: "unbounded" })
        assert.deepStrictEqual(tokens.map(access), issued)
        assert.strictEqual((yield* manager.keys).length, 50)
        // Kept in use, user-1 stays; the others are released after their idle time, which stops
        // their background refresh.
        for (let minute = 1; minute <= 12; minute++) {
          yield* TestClock.adjust("1 minute")
          yield* manager.get("user-1")
        }
        assert.deepStrictEqual(yield* manager.keys, ["user-1"])
        const calls = yield* refreshes(server)
        for (let minute = 1; minute <= 60; minute++) {
          yield* TestClock.adjust("1 minute")
          yield* manager.get("user-1")
        }
        // Only user-1 is still refreshed in the background: once per 54 seconds (49 released keys
        // would have added about 3,200 refreshes).
        const hour = (yield* refreshes(server)) - calls
        assert.isTrue(hour === 66 || hour === 67, `${hour} refreshes`)
        // A released key is loaded from the store again on demand, and refreshed: user-2's own token.
        const user2 = yield* manager.get("user-2")
        assert.notStrictEqual(access(user2), issued[1])
        assert.deepStrictEqual(yield* resource(server, user2.accessToken), { status: 200, subject: "user-2" })
      }))

    it.scoped("a cached get allocates nothing: each key's get is one effect, built once", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* manager.set("bob", yield* login(server, "bob"))
        const get = manager.get("alice")
        assert.strictEqual(manager.get("alice"), get)
        assert.notStrictEqual(manager.get("bob"), get)
        assert.strictEqual(access(yield* get), access(first))
        // The same effect, run after the refresh instant, refreshes: the clock is read when it runs.
        yield* TestClock.adjust("55 seconds")
        assert.notStrictEqual(access(yield* get), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
        assert.strictEqual(manager.get("alice"), get)
      }))

    it.scoped("a held get answers from its copy to the millisecond of the refresh instant, never past it", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        // Issued 400 ms into a second, so that the refresh instant falls inside a second too.
        yield* TestClock.adjust("400 millis")
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const get = manager.get("alice")
        const due = TokenHealth.refreshDueAtMillis(first)
        assert.isTrue(due % 1000 !== 0, `${due}`)
        yield* get
        yield* TestClock.adjust(due - 1 - (yield* Clock.currentTimeMillis))
        assert.strictEqual(access(yield* get), access(first))
        assert.strictEqual(access(yield* get), access(first))
        assert.strictEqual(yield* refreshes(server), 0)
        yield* TestClock.adjust("1 millis")
        const second = yield* get
        assert.notStrictEqual(access(second), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
        // The copy is taken again from the refreshed token, and the same effect serves it.
        assert.strictEqual(access(yield* get), access(second))
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a held get stops answering from its copy as soon as its token is rejected", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const get = manager.get("alice")
        assert.strictEqual(access(yield* get), access(first))
        assert.isTrue(yield* manager.invalidate("alice", first))
        const second = yield* get
        assert.notStrictEqual(access(second), access(first))
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a get held across the release of its key's state still answers, through one state", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ idleTimeToLive: "5 minutes" })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const held = manager.get("alice")
        yield* TestClock.adjust("6 minutes")
        assert.deepStrictEqual(yield* manager.keys, [])
        // The token expired meanwhile: the held effect looks the key up again and refreshes it once.
        const tokens = yield* Effect.all([held, held, manager.get("alice")], { concurrency: "unbounded" })
        const second = access(tokens[0])
        assert.notStrictEqual(second, access(first))
        assert.deepStrictEqual(tokens.map(access), [second, second, second])
        assert.strictEqual(yield* refreshes(server), 1)
        assert.deepStrictEqual(yield* manager.keys, ["alice"])
        assert.strictEqual(manager.get("alice"), manager.get("alice"))
      }))

    it.scoped("a get held across the release of its key's state answers what the key holds now", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ idleTimeToLive: "5 minutes" }, { accessTokenTtl: Duration.infinity })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const held = manager.get("alice")
        assert.strictEqual(access(yield* held), access(first))
        yield* TestClock.adjust("6 minutes")
        assert.deepStrictEqual(yield* manager.keys, [])
        // Still valid, but no longer the key's: the released state must not answer it.
        const second = yield* login(server)
        yield* manager.set("alice", second)
        assert.strictEqual(access(yield* held), access(second))
        assert.strictEqual(yield* refreshes(server), 0)
      }))
  })
})
