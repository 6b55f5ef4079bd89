/**
 * The TokenManager under the faults real providers and real infrastructure produce, on TestClock,
 * against the in-memory AuthorizationServer with refresh token rotation and reuse detection (a
 * rotated refresh token presented again revokes the whole grant). Each test names the fault it keeps
 * fixed; each failed on the manager before it was rebuilt.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as Array from "effect/Array"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"

type Server = AuthorizationServer.AuthorizationServer["Type"]

const endpointFor = (server: Server, options: Partial<TokenEndpoint.Options> = {}) =>
  TokenEndpoint.make({
    issuer: server.issuer,
    tokenEndpoint: server.tokenEndpoint,
    revocationEndpoint: server.revocationEndpoint,
    clientId: "client",
    clientSecret: Redacted.make("secret"),
    ...options
  }).pipe(Effect.provideService(HttpClient.HttpClient, server.httpClient))

// One application instance: its own endpoint (own cooldowns) and manager, over a shared store.
const instance = (
  server: Server,
  store: TokenStore.TokenStore["Type"],
  options: TokenManager.Options = {},
  endpointOptions: Partial<TokenEndpoint.Options> = {}
) =>
  Effect.gen(function*() {
    const endpoint = yield* endpointFor(server, endpointOptions)
    const manager = yield* TokenManager.make(options).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
    )
    const events = yield* manager.subscribe
    return { manager, events, endpoint }
  })

// One instance holding alice's first token.
const withAlice = Effect.gen(function*() {
  const server = yield* AuthorizationServer.AuthorizationServer
  const store = yield* TokenStore.makeMemory
  const a = yield* instance(server, store)
  yield* a.manager.set("alice", yield* server.issueToken())
  return { a, server, store }
})

const tags = (queue: Queue.Dequeue<TokenManager.Event>) =>
  Effect.map(Queue.takeAll(queue), (events) => Chunk.toReadonlyArray(events).map((event) => event._tag))

const withServer = (options: AuthorizationServer.Options = {}) =>
  Effect.provide(AuthorizationServer.layer({ accessTokenTtl: "1 hour", ...options }))

const count = (record: Readonly<Record<string, number>>, name: string) => record[name] ?? 0

// A store whose compare-and-set (the write after a refresh) fails while `down` is set.
const flakyStore = (inner: TokenStore.TokenStore["Type"]) => {
  const state = { down: false, failedWrites: 0 }
  const store = TokenStore.TokenStore.of({
    ...inner,
    compareAndSet: (key, token, expected) =>
      Effect.suspend(() => {
        if (!state.down) return inner.compareAndSet(key, token, expected)
        state.failedWrites++
        return Effect.fail(
          new TokenStore.TokenStoreError({ operation: "compareAndSet", key, description: "disk full" })
        )
      })
  })
  return { store, state }
}

describe("TokenManager under faults", () => {
  it.scoped("1. the lease outlives a refresh slowed by Retry-After: no sibling presents the refresh token", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const a = yield* instance(server, store)
      const b = yield* instance(server, store)
      yield* a.manager.set("alice", yield* server.issueToken())
      yield* TestClock.adjust("55 minutes")
      yield* server.failNext(2, { status: 503, headers: { "retry-after": "20" } })
      const fromA = yield* Effect.fork(a.manager.get("alice"))
      yield* TestClock.adjust("1 second")
      const fromB = yield* Effect.fork(b.manager.get("alice"))
      yield* TestClock.adjust("60 seconds")
      yield* Fiber.join(fromA)
      yield* Fiber.join(fromB)
      const stats = yield* server.stats
      assert.strictEqual(count(stats.errors, "invalid_grant"), 0, "a consumed refresh token was presented")
      assert.strictEqual(count(stats.tokensIssued, "refresh_token"), 1)
      // Both instances end up on the one rotated token, and the grant lives on through the next expiry.
      const tokenA = yield* a.manager.get("alice")
      const tokenB = yield* b.manager.get("alice")
      assert.isTrue(Token.sameAccessToken(tokenA, tokenB))
      yield* TestClock.adjust("55 minutes")
      yield* a.manager.get("alice")
      yield* TestClock.adjust("1 second")
      yield* b.manager.get("alice")
      assert.strictEqual(count((yield* server.stats).tokensIssued, "refresh_token"), 2)
      assert.strictEqual(count((yield* server.stats).errors, "invalid_grant"), 0)
    }).pipe(withServer()))

  it.scoped("1b. a holder whose lease was taken never presents the refresh token: it adopts", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const a = yield* instance(server, store, { leaseTtl: "3 seconds" })
      yield* a.manager.set("alice", yield* server.issueToken())
      yield* TestClock.adjust("55 minutes")
      // The store loses A's lease to someone else (an operator, a clock jump): renewals now fail.
      const stolen = TokenStore.TokenStore.of({ ...store, renewLease: () => Effect.succeed(false) })
      const c = yield* TokenManager.make({ leaseTtl: "3 seconds" }).pipe(
        Effect.provideService(TokenStore.TokenStore, stolen),
        Effect.provideService(TokenEndpoint.TokenEndpoint, a.endpoint)
      )
      const events = yield* c.subscribe
      const initial = yield* store.get("alice")
      const token = yield* c.get("alice")
      assert.strictEqual(count((yield* server.stats).tokenRequests, "refresh_token"), 0)
      // It keeps serving its valid token and reports the lost lease.
      assert.isTrue(Token.sameAccessToken(token, Option.getOrThrow(initial).token))
      const failed = Chunk.toReadonlyArray(yield* Queue.takeAll(events)).filter(TokenManager.Event.$is("RefreshFailed"))
      assert.deepStrictEqual(failed.map((event) => event.error), ["LeaseLost"])
    }).pipe(withServer()))

  it.scoped("2. the token endpoint's timeout fires inside the manager", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const a = yield* instance(server, store, {}, { timeout: "1 second", backoff: { maxAttempts: 1 } })
      yield* a.manager.set("alice", yield* server.issueToken())
      yield* TestClock.adjust("1 hour")
      yield* server.failNext(1, { status: 200, delay: "6 seconds", body: {} })
      const fiber = yield* Effect.fork(Effect.flip(a.manager.get("alice")))
      yield* TestClock.adjust("1001 millis")
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "get still waits for the hung endpoint")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "TransportError")
    }).pipe(withServer()))

  it.scoped("2b. a hung source is bounded by refreshTimeout, and the lease is let go", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.makeMemory
      yield* store.set("alice", Token.make({ access_token: Redacted.make("at"), expires_in: 60 }, 0))
      const hung = TokenSource.make(() => Effect.never)
      const manager = yield* TokenManager.makeWithSource({ refreshTimeout: "5 seconds" }).pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenSource.TokenSource, hung)
      )
      yield* TestClock.adjust("61 seconds")
      const fiber = yield* Effect.fork(Effect.flip(manager.get("alice")))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "RefreshTimeout")
      assert.include(error.message, "may have rotated")
      assert.isTrue(yield* store.acquireLease("alice", "someone-else", "1 second"), "the lease was kept")
    }))

  it.scoped("3. a failed write after a rotation: served from memory, lease kept, written once the store is back", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const { state, store } = flakyStore(yield* TokenStore.makeMemory)
      const a = yield* instance(server, store)
      const b = yield* instance(server, store)
      yield* a.manager.set("alice", yield* server.issueToken())
      yield* b.manager.get("alice")
      yield* TestClock.adjust("55 minutes")
      state.down = true
      const refreshing = yield* Effect.fork(a.manager.get("alice"))
      yield* TestClock.adjust("1 second")
      const rotated = yield* Fiber.join(refreshing)
      assert.strictEqual(count((yield* server.stats).tokensIssued, "refresh_token"), 1)
      assert.deepStrictEqual(yield* tags(a.events), ["Refreshed", "Rotated", "StoreWriteFailed"])
      // The store still holds the consumed refresh token; B's token expires and it wants a new one.
      yield* TestClock.adjust("5 minutes")
      const waiting = yield* Effect.fork(Effect.either(b.manager.get("alice")))
      yield* TestClock.adjust("40 seconds")
      const fromB = yield* Fiber.join(waiting)
      assert.isTrue(fromB._tag === "Left" && fromB.left._tag === "LeaseTimeout", "B waited for A's lease")
      // A keeps serving the rotated token from memory.
      assert.isTrue(Token.sameAccessToken(yield* a.manager.get("alice"), rotated))
      state.down = false
      // The write is retried at most every 30 s (jittered by up to 20%).
      yield* TestClock.adjust("40 seconds")
      assert.includeMembers(yield* tags(a.events), ["StoreWriteRecovered"])
      const stored = Option.getOrThrow(yield* store.get("alice"))
      assert.isTrue(Token.sameRefreshToken(stored.token, rotated))
      assert.isTrue(Token.sameAccessToken(yield* b.manager.get("alice"), rotated))
      const stats = yield* server.stats
      assert.strictEqual(count(stats.errors, "invalid_grant"), 0, "the consumed refresh token was presented")
      assert.strictEqual(count(stats.tokensIssued, "refresh_token"), 1)
    }).pipe(withServer()))

  it.scoped("4. a dead refresh token answered with HTTP 200 (GitHub) is ReconnectRequired, once", () =>
    Effect.gen(function*() {
      const { a, server } = yield* withAlice
      yield* TestClock.adjust("1 hour")
      // https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors
      yield* server.failNext(10, {
        status: 200,
        body: { error: "bad_refresh_token", error_description: "The refresh token passed is incorrect or expired." }
      })
      const first = yield* Effect.flip(a.manager.get("alice"))
      assert.strictEqual(first._tag, "ReconnectRequired")
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual((yield* Effect.flip(a.manager.get("alice")))._tag, "ReconnectRequired")
      }
      assert.strictEqual(count((yield* server.stats).tokenRequests, "refresh_token"), 1)
      assert.deepStrictEqual(yield* tags(a.events), ["ReconnectRequired"])
    }).pipe(withServer()))

  it.scoped("4b. failures retrying cannot fix stop after a small bound, with a typed error", () =>
    Effect.gen(function*() {
      const { a, server } = yield* withAlice
      yield* TestClock.adjust("1 hour")
      // A proxy answers every request with a 200 HTML page.
      yield* server.failNext(1_000, { status: 200, body: "<html>maintenance</html>" })
      for (let i = 0; i < 20; i++) {
        const error = yield* Effect.flip(a.manager.get("alice"))
        assert.strictEqual(error._tag, "MalformedResponse")
        yield* TestClock.adjust("5 minutes")
      }
      assert.strictEqual(count((yield* server.stats).tokenRequests, "refresh_token"), 3)
      const events = yield* tags(a.events)
      assert.strictEqual(events.filter((tag) => tag === "RefreshStopped").length, 1)
      // A new login resumes refreshing.
      const again = yield* server.issueToken()
      yield* a.manager.set("alice", again)
      assert.isTrue(Token.sameAccessToken(yield* a.manager.get("alice"), again))
    }).pipe(withServer()))

  it.scoped("5. a resource that always answers 401: one refresh, not one per call", () =>
    Effect.gen(function*() {
      const { a, server } = yield* withAlice
      yield* server.failNext(1_000, {
        endpoint: "resource",
        status: 401,
        headers: { "www-authenticate": `Bearer error="invalid_token"` }
      })
      const client = AuthorizedClient.authorize(server.httpClient, a.manager, {
        key: "alice",
        origin: new URL(server.resourceUrl).origin
      })
      for (let i = 0; i < 20; i++) {
        const error = yield* Effect.flip(client.get(server.resourceUrl))
        assert.strictEqual(error._tag, "InvalidToken")
      }
      const stats = yield* server.stats
      assert.strictEqual(count(stats.tokensIssued, "refresh_token"), 1)
      assert.strictEqual(stats.resourceRequests, 21)
      // After the window a 401 may refresh again.
      yield* TestClock.adjust("31 seconds")
      yield* Effect.flip(client.get(server.resourceUrl))
      assert.strictEqual(count((yield* server.stats).tokensIssued, "refresh_token"), 2)
    }).pipe(withServer()))

  it.scoped("6. disconnect always disconnects: no revocation endpoint, or a failing one", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const none = yield* instance(server, store, {}, { revocationEndpoint: undefined })
      yield* none.manager.set("alice", yield* server.issueToken())
      assert.strictEqual((yield* none.manager.revoke("alice"))._tag, "Unsupported")
      assert.isTrue(Option.isNone(yield* store.get("alice")))
      assert.strictEqual((yield* Effect.flip(none.manager.get("alice")))._tag, "ReconnectRequired")

      const failing = yield* instance(server, store, {}, { backoff: { maxAttempts: 1 } })
      yield* failing.manager.set("bob", yield* server.issueToken({ subject: "bob" }))
      yield* server.failNext(1, { endpoint: "revocation", status: 503 })
      const result = yield* failing.manager.revoke("bob")
      assert.strictEqual(result._tag, "Failed")
      assert.isTrue(Option.isNone(yield* store.get("bob")))
      assert.deepStrictEqual(yield* tags(failing.events), ["Revoked"])
      assert.strictEqual((yield* failing.manager.revoke("bob"))._tag, "NoToken")
    }).pipe(withServer()))

  it.scoped("7. background refresh of many keys runs on one fiber, not one per key", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const supervisor = yield* Supervisor.track
      const endpoint = yield* endpointFor(server)
      const users = Array.range(1, 200).map((n) => `user-${n}`)
      // Every fiber the manager starts, while it is made and while tokens are set, is tracked.
      yield* Effect.gen(function*() {
        const manager = yield* TokenManager.make({ backgroundRefresh: true, idleTimeToLive: "2 hours" }).pipe(
          Effect.provideService(TokenStore.TokenStore, store),
          Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
        )
        for (const user of users) yield* manager.set(user, yield* server.issueToken({ subject: user }))
      }).pipe(Effect.supervised(supervisor))
      const fibers = yield* supervisor.value
      assert.isAtMost(fibers.length, 10, "fibers held per key")
      // And they are refreshed all the same.
      yield* TestClock.adjust("56 minutes")
      for (let i = 0; i < 10 && count((yield* server.stats).tokensIssued, "refresh_token") < 200; i++) {
        yield* TestClock.adjust("1 second")
      }
      assert.strictEqual(count((yield* server.stats).tokensIssued, "refresh_token"), 200)
    }).pipe(withServer()))

  it.scoped("8. during a backoff, a caller adopts the token a sibling stored", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const store = yield* TokenStore.makeMemory
      const a = yield* instance(server, store, {}, { backoff: { maxAttempts: 1 } })
      const b = yield* instance(server, store)
      yield* a.manager.set("alice", yield* server.issueToken())
      yield* TestClock.adjust("1 hour")
      yield* server.failNext(1, { status: 503, headers: { "retry-after": "40" } })
      assert.strictEqual((yield* Effect.flip(a.manager.get("alice")))._tag, "TemporarilyUnavailable")
      // A sibling's refresh succeeds a second later.
      yield* TestClock.adjust("1 second")
      const fresh = yield* b.manager.get("alice")
      yield* TestClock.adjust("1 second")
      assert.isTrue(Token.sameAccessToken(yield* a.manager.get("alice"), fresh))
      assert.strictEqual(count((yield* server.stats).tokenRequests, "refresh_token"), 2)
    }).pipe(withServer()))

  it.scoped("9. the waiters of a refresh take no span of their own", () =>
    Effect.gen(function*() {
      const { a } = yield* withAlice
      yield* TestClock.adjust("1 hour")
      const spans: Array<string> = []
      const native = yield* Effect.tracer
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind, options) => {
          if (name.startsWith("TokenManager")) spans.push(name)
          return native.span(name, parent, context, links, startTime, kind, options)
        },
        context: (f, fiber) => native.context(f, fiber)
      })
      const tokens = yield* Effect.forEach(Array.range(1, 1_000), () => a.manager.get("alice"), {
        concurrency: "unbounded"
      }).pipe(Effect.withTracer(tracer))
      assert.strictEqual(tokens.length, 1_000)
      assert.deepStrictEqual(spans, ["TokenManager.refresh"])
      assert.notInclude(Inspectable.format(spans), "secret")
    }).pipe(withServer()))

  it.scoped("a store that keeps failing during a refresh is retried, never stopped like a configuration error", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const inner = yield* TokenStore.makeMemory
      const state = { down: false }
      const store = TokenStore.TokenStore.of({
        ...inner,
        acquireLease: (key, owner, ttl) =>
          Effect.suspend(() =>
            state.down
              ? Effect.fail(
                new TokenStore.TokenStoreError({ operation: "acquireLease", key, description: "unreachable" })
              )
              : inner.acquireLease(key, owner, ttl)
          )
      })
      const a = yield* instance(server, store)
      const issued = yield* server.issueToken()
      yield* a.manager.set("alice", issued)
      yield* TestClock.adjust("55 minutes")
      state.down = true
      // Inside the refresh window the token is still served while each refresh fails.
      for (let attempt = 0; attempt < 6; attempt++) {
        assert.isTrue(Token.sameAccessToken(yield* a.manager.get("alice"), issued))
        yield* TestClock.adjust("30 seconds")
      }
      const seen = yield* tags(a.events)
      assert.include(seen, "RefreshFailed")
      assert.notInclude(seen, "RefreshStopped")
      state.down = false
      yield* TestClock.adjust("1 minute")
      assert.isFalse(Token.sameAccessToken(yield* a.manager.get("alice"), issued))
      assert.strictEqual(count((yield* server.stats).tokensIssued, "refresh_token"), 1)
    }).pipe(withServer()))
})
