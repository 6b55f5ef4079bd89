import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import { TokenEndpoint } from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Array from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Logger from "effect/Logger"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { type FakeServer, makeFakeServer, tokenAt } from "./utils/fakeEndpoint.js"

const setup = (
  options: TokenManager.Options = {},
  server: FakeServer = makeFakeServer(),
  store?: TokenStore.TokenStore["Type"]
) =>
  Effect.gen(function*() {
    const tokens = store ?? (yield* TokenStore.makeMemory)
    const manager = yield* TokenManager.make(options).pipe(
      Effect.provideService(TokenStore.TokenStore, tokens),
      Effect.provideService(TokenEndpoint, server.endpoint)
    )
    const events = yield* manager.subscribe
    return { manager, server, store: tokens, events }
  })

const access = (token: Token.Token) => Redacted.value(token.accessToken)

const drain = <A>(queue: Queue.Dequeue<A>) => Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray)

const tags = (events: ReadonlyArray<TokenManager.Event>) => events.map((event) => event._tag)

const storedVersion = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), Option.map((entry) => entry.version))

describe("TokenManager", () => {
  describe("get", () => {
    it.scoped("loads the stored token and serves it without another store read", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup()
        yield* store.set("alice", yield* server.login("alice"))
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        yield* store.remove("alice")
        // The hot path reads memory: the store is not consulted while the token is fresh.
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        assert.strictEqual(server.stats.refreshCalls, 0)
      }))

    it.scoped("refreshes at exactly the policy's instant: not one millisecond before", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup()
        const first = yield* server.login("alice")
        yield* manager.set("alice", first)
        assert.strictEqual(Expiry.refreshAtMillis(first), 54_000)
        yield* TestClock.adjust(53_999)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        assert.strictEqual(server.stats.refreshCalls, 0)
        yield* TestClock.adjust(1)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.deepStrictEqual(server.stats.presented, ["rt-alice-1"])
        const stored = Option.getOrThrow(yield* store.get("alice"))
        assert.strictEqual(access(stored.token), "at-alice-2")
      }))

    it.scoped("one get effect, run again later, decides afresh each time", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        const get = manager.get("alice")
        assert.strictEqual(access(yield* get), "at-alice-1")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(access(yield* get), "at-alice-2")
      }))

    it.scoped("honours a custom policy", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ policy: Expiry.policy({ fraction: 0.5 }) })
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust(29_999)
        yield* manager.get("alice")
        assert.strictEqual(server.stats.refreshCalls, 0)
        yield* TestClock.adjust(1)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
      }))

    it.scoped("10,000 concurrent gets at expiry make one token endpoint call and share its result", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({}, makeFakeServer({ latency: "100 millis" }))
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("60 seconds")
        const fiber = yield* Effect.forEach(Array.range(1, 10_000), () => manager.get("alice"), {
          concurrency: "unbounded"
        }).pipe(Effect.fork)
        yield* TestClock.adjust("100 millis")
        const tokens = yield* Fiber.join(fiber)
        assert.strictEqual(tokens.length, 10_000)
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.isTrue(tokens.every((token) => access(token) === "at-alice-2"))
      }))

    it.scoped("concurrent callers share a failure too, and an interrupted caller does not cancel the refresh", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({}, makeFakeServer({ latency: "1 second" }))
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("60 seconds")
        yield* server.failNext(new OAuthError.ServerError({ status: 500 }))
        const first = yield* Effect.fork(manager.get("alice"))
        const others = yield* Effect.fork(Effect.forEach(Array.range(1, 50), () => Effect.flip(manager.get("alice")), {
          concurrency: "unbounded"
        }))
        yield* TestClock.adjust("10 millis")
        yield* Fiber.interrupt(first)
        yield* TestClock.adjust("1 second")
        const errors = yield* Fiber.join(others)
        assert.isTrue(errors.every((error) => error._tag === "ServerError"))
        assert.strictEqual(server.stats.refreshCalls, 1)
      }))

    it.scoped("a transient failure keeps a still-valid token, backs off, then tries again", () =>
      Effect.gen(function*() {
        const { events, manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.TemporarilyUnavailable({ status: 503 }))
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        assert.strictEqual(server.stats.refreshCalls, 1)
        const failed = (yield* drain(events)).filter(TokenManager.Event.$is("RefreshFailed"))
        assert.strictEqual(failed.length, 1)
        assert.strictEqual(failed[0].error, "TemporarilyUnavailable")
        assert.isTrue(failed[0].tokenStillValid)
        // Within the backoff (1 second) the valid token is served from memory, with no new attempt.
        yield* TestClock.adjust(999)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        assert.strictEqual(server.stats.refreshCalls, 1)
        yield* TestClock.adjust(1)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 2)
      }))

    it.scoped("only an expired token makes get fail, with the refresh's error", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.ServerError({ status: 500 }), 10)
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust("6 seconds")
        const error = yield* Effect.flip(manager.get("alice"))
        assert.strictEqual(error._tag, "ServerError")
        // During the backoff the error is served again without a new attempt.
        const calls = server.stats.refreshCalls
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ServerError")
        assert.strictEqual(server.stats.refreshCalls, calls)
      }))

    it.scoped("a rate limit's Retry-After lengthens the backoff", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.RateLimited({ status: 429, retryAfter: Duration.seconds(5) }))
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust(4_999)
        yield* manager.get("alice")
        assert.strictEqual(server.stats.refreshCalls, 1)
        yield* TestClock.adjust(1)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
      }))
  })

  describe("rotation", () => {
    it.scoped("writes every new token by compare-and-set on the version read before the refresh", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        assert.deepStrictEqual(yield* storedVersion(store, "alice"), Option.some(1))
        for (let round = 2; round <= 4; round++) {
          yield* TestClock.adjust("54 seconds")
          const token = yield* manager.get("alice")
          assert.strictEqual(access(token), `at-alice-${round}`)
          const stored = Option.getOrThrow(yield* store.get("alice"))
          assert.strictEqual(stored.version, round)
          assert.isTrue(Token.sameRefreshToken(stored.token, token))
          assert.strictEqual(Redacted.value(stored.token.refreshToken!), `rt-alice-${round}`)
        }
        const log = yield* drain(events)
        assert.deepStrictEqual(tags(log), ["Refreshed", "Rotated", "Refreshed", "Rotated", "Refreshed", "Rotated"])
        assert.deepStrictEqual(log.filter(TokenManager.Event.$is("Rotated")).map((event) => event.version), [2, 3, 4])
        assert.deepStrictEqual(server.stats.presented, ["rt-alice-1", "rt-alice-2", "rt-alice-3"])
      }))

    it.scoped("a lost compare-and-set adopts the token the other writer stored", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("54 seconds")
        // A login elsewhere replaces the token while our refresh is on the wire.
        const other = tokenAt(54_000, "at-login", "rt-login")
        yield* server.beforeNextRefresh(store.set("alice", other))
        assert.strictEqual(access(yield* manager.get("alice")), "at-login")
        assert.strictEqual(access(Option.getOrThrow(yield* store.get("alice")).token), "at-login")
        assert.deepStrictEqual(tags(yield* drain(events)), ["Adopted"])
      }))

    it.scoped("invalid_grant after another holder rotated the refresh token adopts the stored token", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("54 seconds")
        // Another holder (ignoring leases) rotates and stores while our refresh is on the wire.
        yield* server.beforeNextRefresh(Effect.flatMap(server.rotate("alice"), (token) => store.set("alice", token)))
        const token = yield* manager.get("alice")
        assert.strictEqual(access(token), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.deepStrictEqual(yield* storedVersion(store, "alice"), Option.some(2))
        assert.deepStrictEqual(tags(yield* drain(events)), ["Adopted"])
      }))

    it.scoped("invalid_grant with no rotation in the store empties it and raises ReconnectRequired, once", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.revokeGrant("alice")
        yield* TestClock.adjust("54 seconds")
        const error = yield* Effect.flip(manager.get("alice"))
        assert.strictEqual(error._tag, "ReconnectRequired")
        assert.strictEqual((error as OAuthError.ReconnectRequired).key, "alice")
        assert.include(error.message, "invalid_grant")
        assert.isTrue(Option.isNone(yield* store.get("alice")))
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.deepStrictEqual(tags(yield* drain(events)), ["ReconnectRequired"])
        // No retry loop: the next call finds no token and does not call the server.
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
        assert.strictEqual(server.stats.refreshCalls, 1)
        // A new login makes the key usable again.
        yield* manager.set("alice", yield* server.login("alice"))
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
      }))

    it.scoped("a stored token whose refresh is not ours to remove survives invalid_grant", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.revokeGrant("alice")
        yield* TestClock.adjust("54 seconds")
        // A login replaces the token (same refresh token reused by a buggy client: no rotation seen).
        yield* server.beforeNextRefresh(store.set("alice", tokenAt(54_000, "at-new", "rt-alice-1")))
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
        // The conditional remove did not delete the newer entry.
        assert.strictEqual(access(Option.getOrThrow(yield* store.get("alice")).token), "at-new")
      }))
  })

  describe("invalidate", () => {
    it.scoped("marks exactly that token: one refresh for many invalidations, none for a replaced token", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        const first = yield* manager.get("alice")
        yield* Effect.forEach(Array.range(1, 20), () => manager.invalidate("alice", first), {
          concurrency: "unbounded"
        })
        const tokens = yield* Effect.forEach(Array.range(1, 20), () => manager.get("alice"), {
          concurrency: "unbounded"
        })
        assert.isTrue(tokens.every((token) => access(token) === "at-alice-2"))
        assert.strictEqual(server.stats.refreshCalls, 1)
        // A late 401 for the replaced token changes nothing.
        yield* manager.invalidate("alice", first)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
      }))

    it.scoped("an invalidated token is never served again, even when the refresh fails", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        const first = yield* manager.get("alice")
        yield* server.failNext(new OAuthError.ServerError({ status: 502 }))
        yield* manager.invalidate("alice", first)
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ServerError")
      }))

    it.scoped("a token without expiry is refreshed only after a 401", () =>
      Effect.gen(function*() {
        const server = makeFakeServer({ accessTokenTtl: 0 })
        const { manager } = yield* setup({ idleTimeToLive: "30 days" }, server)
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("7 days")
        const first = yield* manager.get("alice")
        assert.strictEqual(server.stats.refreshCalls, 0)
        yield* manager.invalidate("alice", first)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
      }))
  })

  describe("sources", () => {
    it.scoped("client credentials: a new grant when nothing is stored and at every expiry", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup({ source: TokenManager.clientCredentials() })
        assert.strictEqual(access(yield* manager.get("svc")), "cc-1")
        assert.deepStrictEqual(yield* storedVersion(store, "svc"), Option.some(1))
        yield* TestClock.adjust("53 seconds")
        assert.strictEqual(access(yield* manager.get("svc")), "cc-1")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(access(yield* manager.get("svc")), "cc-2")
        assert.deepStrictEqual(yield* storedVersion(store, "svc"), Option.some(2))
        assert.strictEqual(server.stats.clientCredentialsCalls, 2)
        assert.strictEqual(server.stats.refreshCalls, 0)
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
        assert.strictEqual(server.stats.refreshCalls, 0)
      }))
  })

  describe("background refresh", () => {
    it.scoped("refreshes at the refresh instant with no caller, and stops when its scope closes", () =>
      Effect.gen(function*() {
        const server = makeFakeServer()
        const store = yield* TokenStore.makeMemory
        const scope = yield* Scope.make()
        const manager = yield* TokenManager.make({ backgroundRefresh: true, jitter: 0 }).pipe(
          Effect.provideService(TokenStore.TokenStore, store),
          Effect.provideService(TokenEndpoint, server.endpoint),
          Scope.extend(scope)
        )
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust(53_999)
        assert.strictEqual(server.stats.refreshCalls, 0)
        yield* TestClock.adjust(1)
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.strictEqual(access(Option.getOrThrow(yield* store.get("alice")).token), "at-alice-2")
        // The caller is served from memory: the refresh already happened.
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(server.stats.refreshCalls, 2)
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(server.stats.refreshCalls, 2)
      }))

    it.scoped("runs early by at most the jitter's share of the refresh window", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0.5 })
        yield* manager.set("alice", yield* server.login("alice"))
        // Window: 6 s before expiry; jitter 0.5 of it: between 51 s and 54 s.
        yield* TestClock.adjust(50_999)
        assert.strictEqual(server.stats.refreshCalls, 0)
        yield* TestClock.adjust(3_001)
        assert.strictEqual(server.stats.refreshCalls, 1)
      }))

    it.scoped("retries a failed background refresh after the backoff", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0 })
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.ServerError({ status: 500 }))
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(server.stats.refreshCalls, 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(server.stats.refreshCalls, 2)
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-2")
      }))
  })

  describe("leases", () => {
    it.scoped("two managers sharing one store refresh once per expiry", () =>
      Effect.gen(function*() {
        const server = makeFakeServer({ latency: "200 millis" })
        const store = yield* TokenStore.makeMemory
        const a = yield* setup({}, server, store)
        const b = yield* setup({}, server, store)
        yield* a.manager.set("alice", yield* server.login("alice"))
        for (let round = 2; round <= 4; round++) {
          yield* TestClock.adjust("54 seconds")
          const fiber = yield* Effect.all([
            Effect.forEach(Array.range(1, 100), () => a.manager.get("alice"), { concurrency: "unbounded" }),
            Effect.forEach(Array.range(1, 100), () => b.manager.get("alice"), { concurrency: "unbounded" })
          ], { concurrency: "unbounded" }).pipe(Effect.fork)
          yield* TestClock.adjust("1 second")
          const [fromA, fromB] = yield* Fiber.join(fiber)
          // Whoever lost the lease race serves its still-valid token rather than wait, then adopts.
          assert.isTrue(
            [...fromA, ...fromB].every((token) =>
              [`at-alice-${round}`, `at-alice-${round - 1}`].includes(access(token))
            )
          )
          assert.strictEqual(server.stats.refreshCalls, round - 1)
          yield* TestClock.adjust("1 second")
          assert.strictEqual(access(yield* a.manager.get("alice")), `at-alice-${round}`)
          assert.strictEqual(access(yield* b.manager.get("alice")), `at-alice-${round}`)
        }
        assert.strictEqual(server.stats.staleRefreshTokens, 0)
        const adopted = [...(yield* drain(a.events)), ...(yield* drain(b.events))].filter(
          TokenManager.Event.$is("Adopted")
        )
        assert.strictEqual(adopted.length, 3)
      }))

    it.scoped("a holder that finds a fresher token under the lease adopts it without calling the server", () =>
      Effect.gen(function*() {
        const server = makeFakeServer()
        const store = yield* TokenStore.makeMemory
        const a = yield* setup({}, server, store)
        const b = yield* setup({}, server, store)
        yield* a.manager.set("alice", yield* server.login("alice"))
        assert.strictEqual(access(yield* b.manager.get("alice")), "at-alice-1")
        yield* TestClock.adjust("54 seconds")
        assert.strictEqual(access(yield* a.manager.get("alice")), "at-alice-2")
        assert.strictEqual(access(yield* b.manager.get("alice")), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.deepStrictEqual(tags(yield* drain(b.events)), ["Adopted"])
      }))

    it.scoped("a busy lease: the still-valid token at once, LeaseTimeout after a bounded wait once it expired", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup({ leaseTtl: "10 seconds", leaseWait: "3 seconds" })
        yield* manager.set("alice", yield* server.login("alice"))
        // Another process took the lease and hangs.
        assert.isTrue(yield* store.acquireLease("alice", "someone-else", "1 hour"))
        yield* TestClock.adjust("54 seconds")
        // No wait while the token is valid, and no failure either: a sibling is refreshing.
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        assert.deepStrictEqual(tags(yield* drain(events)), [])
        yield* TestClock.adjust("1 minute")
        const expired = yield* Effect.fork(Effect.flip(manager.get("alice")))
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(expired)
        assert.strictEqual(error._tag, "LeaseTimeout")
        assert.strictEqual(server.stats.refreshCalls, 0)
      }))

    it.scoped("a lease left by a crashed holder expires and is taken over", () =>
      Effect.gen(function*() {
        const { manager, server, store } = yield* setup({ leaseTtl: "10 seconds" })
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("54 seconds")
        assert.isTrue(yield* store.acquireLease("alice", "crashed", "10 seconds"))
        assert.strictEqual(access(yield* manager.get("alice")), "at-alice-1")
        // Expired at 60 s: now the caller waits, until the crashed holder's lease lapses at 64 s.
        yield* TestClock.adjust("6 seconds")
        const fiber = yield* Effect.fork(manager.get("alice"))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(access(yield* Fiber.join(fiber)), "at-alice-2")
        assert.strictEqual(server.stats.refreshCalls, 1)
      }))
  })

  describe("set, revoke, events, keys", () => {
    it.scoped("revoke revokes the refresh token (else the access token) and removes the token", () =>
      Effect.gen(function*() {
        const { events, manager, server, store } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* manager.set("bob", tokenAt(0, "at-bob"))
        yield* manager.revoke("alice")
        yield* manager.revoke("bob")
        assert.deepStrictEqual(server.stats.revocations, [
          { token: "rt-alice-1", hint: "refresh_token" },
          { token: "at-bob", hint: "access_token" }
        ])
        assert.strictEqual(yield* store.size, 0)
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ReconnectRequired")
        assert.deepStrictEqual(tags(yield* drain(events)), ["Revoked", "Revoked"])
      }))

    it.scoped("events and logs carry no secret", () =>
      Effect.gen(function*() {
        const logs: Array<string> = []
        const { events, manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.ServerError({ status: 500 }))
        yield* TestClock.adjust("54 seconds")
        const logger = Logger.make(({ annotations, message }) => {
          logs.push(Inspectable.format({ message, annotations }))
        })
        yield* manager.get("alice").pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
        yield* TestClock.adjust("1 second")
        yield* manager.get("alice")
        yield* manager.revoke("alice")
        const log = yield* drain(events)
        assert.deepStrictEqual(tags(log), ["RefreshFailed", "Refreshed", "Rotated", "Revoked"])
        const text = Inspectable.format(log) + JSON.stringify(log) + logs.join("\n")
        assert.isAbove(logs.length, 0)
        for (const secret of ["at-alice-1", "at-alice-2", "rt-alice-1", "rt-alice-2"]) {
          assert.notInclude(text, secret)
        }
      }))

    it.scoped("counts refreshes, failures and adoptions with metrics", () =>
      Effect.gen(function*() {
        const before = yield* Effect.all([
          Metric.value(TokenManager.refreshes),
          Metric.value(TokenManager.refreshFailures)
        ])
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* server.failNext(new OAuthError.ServerError({ status: 500 }))
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        yield* TestClock.adjust("1 second")
        yield* manager.get("alice")
        const after = yield* Effect.all([
          Metric.value(TokenManager.refreshes),
          Metric.value(TokenManager.refreshFailures)
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
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("54 seconds")
        yield* Effect.withTracer(manager.get("alice"), tracer)
        const slow = spans.length
        // One span for the refresh; callers waiting for it take none of their own.
        assert.isFalse(spans.some((span) => span.startsWith("TokenManager.get")))
        assert.isTrue(spans.some((span) => span.startsWith("TokenManager.refresh")))
        assert.isTrue(spans.every((span) => span.includes("alice") && !span.includes("at-alice")))
        yield* Effect.withTracer(Effect.repeatN(manager.get("alice"), 9), tracer)
        assert.strictEqual(spans.length, slow)
      }))

    it.scoped("the events stream delivers events to a running consumer", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const collected = yield* manager.events.pipe(Stream.take(2), Stream.runCollect, Effect.fork)
        yield* Effect.yieldNow()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* TestClock.adjust("54 seconds")
        yield* manager.get("alice")
        assert.deepStrictEqual(tags(Chunk.toReadonlyArray(yield* Fiber.join(collected))), ["Refreshed", "Rotated"])
      }))

    it.scoped("one manager serves many keys, and releases the state of idle keys", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ backgroundRefresh: true, jitter: 0, idleTimeToLive: "5 minutes" })
        const users = Array.range(1, 50).map((n) => `user-${n}`)
        for (const user of users) yield* manager.set(user, yield* server.login(user))
        const tokens = yield* Effect.forEach(users, (user) => manager.get(user), { concurrency: "unbounded" })
        assert.deepStrictEqual(tokens.map(access), users.map((user) => `at-${user}-1`))
        assert.strictEqual((yield* manager.keys).length, 50)
        // Kept in use, user-1 stays; the others are released after their idle time, which stops
        // their background refresh.
        for (let minute = 1; minute <= 12; minute++) {
          yield* TestClock.adjust("1 minute")
          yield* manager.get("user-1")
        }
        assert.deepStrictEqual(yield* manager.keys, ["user-1"])
        const calls = server.stats.refreshCalls
        for (let minute = 1; minute <= 60; minute++) {
          yield* TestClock.adjust("1 minute")
          yield* manager.get("user-1")
        }
        // Only user-1 is still refreshed in the background: once per 54 seconds (49 released keys
        // would have added about 3,200 refreshes).
        const hour = server.stats.refreshCalls - calls
        assert.isTrue(hour === 66 || hour === 67, `${hour} refreshes`)
        // A released key is loaded from the store again on demand.
        assert.strictEqual(access(yield* manager.get("user-2")).startsWith("at-user-2-"), true)
      }))

    it.scoped("a cached get allocates nothing: each key's get is one effect, built once", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        yield* manager.set("alice", yield* server.login("alice"))
        yield* manager.set("bob", yield* server.login("bob"))
        const get = manager.get("alice")
        assert.strictEqual(manager.get("alice"), get)
        assert.notStrictEqual(manager.get("bob"), get)
        assert.strictEqual(access(yield* get), "at-alice-1")
        // The same effect, run after the refresh instant, refreshes: the clock is read when it runs.
        yield* TestClock.adjust("55 seconds")
        assert.strictEqual(access(yield* get), "at-alice-2")
        assert.strictEqual(manager.get("alice"), get)
      }))

    it.scoped("a get held across the release of its key's state still answers, through one state", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup({ idleTimeToLive: "5 minutes" })
        yield* manager.set("alice", yield* server.login("alice"))
        const held = manager.get("alice")
        yield* TestClock.adjust("6 minutes")
        assert.deepStrictEqual(yield* manager.keys, [])
        // The token expired meanwhile: the held effect looks the key up again and refreshes it once.
        const tokens = yield* Effect.all([held, held, manager.get("alice")], { concurrency: "unbounded" })
        assert.deepStrictEqual(tokens.map(access), ["at-alice-2", "at-alice-2", "at-alice-2"])
        assert.strictEqual(server.stats.refreshCalls, 1)
        assert.deepStrictEqual(yield* manager.keys, ["alice"])
        assert.strictEqual(manager.get("alice"), manager.get("alice"))
      }))
  })
})
