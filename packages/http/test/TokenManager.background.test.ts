/**
 * Background refresh against what happens around it: keys released while their refresh waits for a
 * permit, outages that outlast the token, a sibling holding the lease. On `TestClock`; each test counts
 * what reaches the token endpoint and the store.
 */
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { access, failNext, login, makeServer, managerFor, requests, tokenAt } from "./utils/authorizationServer.js"

// The keys counted in `tokenfx_tokens_active` under `client`, whatever their state.
const counted = (client: string) =>
  Effect.map(
    Effect.forEach(["fresh", "refresh_window", "expired", "dead"], (state) =>
      Metric.value(
        Metric.taggedWithLabels(Telemetry.tokensActive, [
          Telemetry.clientLabel(client),
          MetricLabel.make("state", state)
        ])
      )),
    (values) => values.reduce((sum, gauge) => sum + gauge.value, 0)
  )

// A manager over a memory store (counting lease attempts) and a source that counts its calls per key
// and records their instants; `slow` keys take 10 s, and while `down` every call fails.
const setup = (
  options: TokenManager.Options,
  source: { readonly slow?: ReadonlySet<string> | undefined; readonly down?: boolean | undefined } = {}
) =>
  Effect.gen(function*() {
    const calls = new Map<string, number>()
    const instants: Array<number> = []
    const tokens = TokenSource.make((request) =>
      Effect.gen(function*() {
        const n = (calls.get(request.key) ?? 0) + 1
        calls.set(request.key, n)
        instants.push(yield* TestClock.currentTimeMillis)
        if (source.down === true) return yield* new OAuthError.ServerError({ status: 500 })
        if (source.slow?.has(request.key) === true) yield* Effect.sleep("10 seconds")
        return tokenAt(yield* TestClock.currentTimeMillis, `${request.key}-${n}`, `refresh-${request.key}-${n}`)
      })
    )
    const memory = yield* TokenStore.makeMemory
    let leaseTries = 0
    const store = TokenStore.TokenStore.of({
      ...memory,
      acquireLease: (key, owner, ttl) => Effect.suspend(() => (leaseTries++, memory.acquireLease(key, owner, ttl)))
    })
    const manager = yield* TokenManager.makeWithSource({ backgroundRefresh: true, ...options }).pipe(
      Effect.provideService(TokenStore.TokenStore, store),
      Effect.provideService(TokenSource.TokenSource, tokens)
    )
    return { manager, store, calls: (key: string) => calls.get(key) ?? 0, instants, leaseTries: () => leaseTries }
  })

const version = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), Option.match({ onNone: () => 0, onSome: (entry) => entry.version }))

describe("TokenManager: background refresh", () => {
  describe("release", () => {
    // One permit: "a" (slow) takes it at 54 s, "b" (due then too) waits; the sweep at 55 s releases "b".
    const permitTaken = (client: string) =>
      Effect.gen(function*() {
        const env = yield* setup(
          { jitter: 0, backgroundConcurrency: 1, idleTimeToLive: "55 seconds", clientLabel: client },
          { slow: new Set(["a"]) }
        )
        yield* env.manager.set("a", tokenAt(0, "a-0", "refresh-a-0"))
        yield* env.manager.set("b", tokenAt(0, "b-0", "refresh-b-0"))
        yield* TestClock.adjust("54 seconds")
        assert.deepStrictEqual([env.calls("a"), env.calls("b")], [1, 0])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* env.manager.keys, ["a"])
        return env
      })

    it.scoped("a key released while its due refresh waits for a permit is not refreshed when the permit comes", () =>
      Effect.gen(function*() {
        const { calls, store } = yield* permitTaken("background-release")
        const stored = yield* version(store, "b")
        // "a" ends at 64 s and frees the permit.
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(calls("a"), 1)
        assert.strictEqual(calls("b"), 0)
        assert.strictEqual(yield* version(store, "b"), stored)
        assert.strictEqual(yield* counted("background-release"), 1)
      }))

    it.scoped("set again after its release, the key refreshes once, at its new token's instant", () =>
      Effect.gen(function*() {
        const { calls, manager } = yield* permitTaken("background-release-set")
        // A new login for "b" at 60 s (due at 114 s); the released state's refresh is still waiting.
        yield* TestClock.adjust("5 seconds")
        yield* manager.set("b", tokenAt(60_000, "b-login", "refresh-b-login"))
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(calls("b"), 0)
        assert.strictEqual(access(yield* manager.get("b")), "b-login")
        // At 110 s the sweep releases "a" (unused since 0 s); "b" refreshes at 114 s.
        yield* TestClock.adjust("49 seconds")
        assert.strictEqual(calls("b"), 1)
        assert.strictEqual(access(yield* manager.get("b")), "b-1")
        assert.deepStrictEqual(yield* manager.keys, ["b"])
        assert.strictEqual(yield* counted("background-release-set"), 1)
      }))

    it.scoped("a key is not released while its background refresh runs, and is after", () =>
      Effect.gen(function*() {
        const { calls, manager } = yield* setup(
          { jitter: 0, idleTimeToLive: "55 seconds", clientLabel: "background-release-running" },
          { slow: new Set(["a"]) }
        )
        yield* manager.set("a", tokenAt(0, "a-0", "refresh-a-0"))
        // The refresh runs from 54 s to 64 s, across the sweep at 55 s.
        yield* TestClock.adjust("56 seconds")
        assert.deepStrictEqual(yield* manager.keys, ["a"])
        yield* TestClock.adjust("8 seconds")
        assert.strictEqual(calls("a"), 1)
        assert.strictEqual(yield* counted("background-release-running"), 1)
        // Released by the sweep at 110 s, before its new token's instant (118 s): never refreshed again.
        yield* TestClock.adjust("46 seconds")
        assert.deepStrictEqual(yield* manager.keys, [])
        assert.strictEqual(yield* counted("background-release-running"), 0)
        yield* TestClock.adjust("10 minutes")
        assert.strictEqual(calls("a"), 1)
      }))
  })

  describe("outage", () => {
    it.scoped("an outage that outlasts the token: retried after each backoff, and the first caller after it waits for nothing", () =>
      Effect.gen(function*() {
        const server = yield* makeServer()
        const { manager, store } = yield* managerFor(server, {
          backgroundRefresh: true,
          jitter: 0,
          idleTimeToLive: "1 day",
          retryBackoff: { initial: "1 second", max: "4 seconds" }
        })
        const first = yield* login(server)
        yield* manager.set("alice", first)
        // Tries at 54, 55 and 57 s (token valid), at 60 s (its expiry), then 64 and 68 s fail.
        yield* failNext(server, "server_error", { count: 6 })
        yield* TestClock.adjust("60 seconds")
        assert.strictEqual(yield* requests(server), 4)
        // A caller meanwhile is answered the failure, and the background retry keeps its instant.
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual((yield* Effect.flip(manager.get("alice")))._tag, "ServerError")
        yield* TestClock.adjust(1_999)
        assert.strictEqual(yield* requests(server), 4)
        yield* TestClock.adjust(1)
        assert.strictEqual(yield* requests(server), 5)
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(yield* requests(server), 6)
        // Back at 72 s: refreshed with no caller, and the next caller is served from memory.
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(yield* requests(server), 7)
        const stored = Option.getOrThrow(yield* store.get("alice")).token
        assert.notStrictEqual(access(stored), access(first))
        assert.strictEqual(access(yield* manager.get("alice")), access(stored))
        assert.strictEqual(yield* requests(server), 7)
      }))
  })

  describe("deferral and backoff", () => {
    const hour = (at: number, name: string) => tokenAt(at, name, `refresh-${name}`, "1 hour")

    // Default jitter 0.2; 0.5 runs up to 150 s ahead of the refresh instant (55 min); 0 never ahead.
    for (const jitter of [0, 0.2, 0.5]) {
      it.scoped(`a sibling holding the lease: one try a second until its token is stored, then none (jitter ${jitter})`, () =>
        Effect.gen(function*() {
          const { calls, leaseTries, manager, store } = yield* setup({ jitter, idleTimeToLive: "1 day" })
          yield* manager.set("a", hour(0, "a-0"))
          assert.isTrue(yield* store.acquireLease("a", "sibling", "1 hour"))
          yield* TestClock.adjust("52 minutes")
          assert.strictEqual(leaseTries(), 1, "the sibling's only")
          const perSecond: Array<number> = []
          for (let second = 0; second < 240; second++) {
            const before = leaseTries()
            yield* TestClock.adjust("1 second")
            perSecond.push(leaseTries() - before)
          }
          assert.isAtMost(Math.max(...perSecond), 1, `lease tries per second: ${perSecond.join(" ")}`)
          // From 55 min at the latest, every second.
          assert.deepStrictEqual(perSecond.slice(180), Array.from({ length: 60 }, () => 1))
          assert.strictEqual(calls("a"), 0)
          // The sibling stores its token and lets the lease go: adopted at the next try, without a call.
          const held = Option.getOrThrow(yield* store.get("a"))
          yield* store.compareAndSet("a", hour(56 * 60_000, "sibling"), held.version)
          yield* store.releaseLease("a", "sibling")
          yield* TestClock.adjust("1 second")
          assert.strictEqual(access(yield* manager.get("a")), "sibling")
          const settled = leaseTries()
          yield* TestClock.adjust("50 minutes")
          assert.strictEqual(leaseTries(), settled)
          assert.strictEqual(calls("a"), 0)
        }))

      it.scoped(`a background refresh that fails waits out each backoff, ahead of the refresh instant too (jitter ${jitter})`, () =>
        Effect.gen(function*() {
          const { instants, manager } = yield* setup({ jitter, idleTimeToLive: "1 day" }, { down: true })
          yield* manager.set("a", hour(0, "a-0"))
          yield* TestClock.adjust("58 minutes")
          const gaps = instants.slice(1).map((at, i) => at - instants[i]!)
          // 1 s doubling to the 1-minute cap; the first try no earlier than the jitter allows.
          assert.isAtLeast(instants[0]!, 55 * 60_000 - jitter * 5 * 60_000)
          assert.isAtLeast(gaps.length, 6)
          assert.deepStrictEqual(gaps, gaps.map((_, i) => Math.min(60_000, 1_000 * 2 ** i)))
          // Still valid meanwhile: callers are served the held token.
          assert.strictEqual(access(yield* manager.get("a")), "a-0")
        }))
    }
  })

  describe("a refresh already running", () => {
    // The background entry comes due while a caller's look at the store (a peek during a backoff, its
    // read slow) is in flight: it joins that flight, which ends without a new schedule. The key must
    // still be refreshed in the background afterwards.
    it.scoped("an entry that joins a running flight is not used up: the key is refreshed in the background later", () =>
      Effect.gen(function*() {
        let calls = 0
        const flags = { down: true, slowReads: false }
        const tokens = TokenSource.make((request) =>
          Effect.gen(function*() {
            calls++
            if (flags.down) return yield* new OAuthError.ServerError({ status: 500 })
            return tokenAt(yield* TestClock.currentTimeMillis, `${request.key}-${calls}`, `refresh-${calls}`)
          })
        )
        const memory = yield* TokenStore.makeMemory
        const store = TokenStore.TokenStore.of({
          ...memory,
          get: (key) => Effect.zipRight(flags.slowReads ? Effect.sleep("2 seconds") : Effect.void, memory.get(key))
        })
        const manager = yield* TokenManager.makeWithSource({
          backgroundRefresh: true,
          jitter: 0,
          retryBackoff: { initial: "10 seconds", max: "1 minute" }
        }).pipe(
          Effect.provideService(TokenStore.TokenStore, store),
          Effect.provideService(TokenSource.TokenSource, tokens)
        )
        yield* manager.set("a", tokenAt(0, "a-0", "refresh-a-0"))
        // 54 s: the background refresh fails, the token still valid; 60 s: it fails again, the token
        // expired: callers are answered the failure until 80 s, when the background tries again.
        yield* TestClock.adjust("60 seconds")
        assert.strictEqual(calls, 2)
        yield* TestClock.adjust("19 seconds")
        // 79 s: a caller peeks at the store (until 81 s); the background entry comes due at 80 s.
        flags.slowReads = true
        const caller = yield* Effect.fork(Effect.either(manager.get("a")))
        yield* TestClock.adjust("2 seconds")
        flags.slowReads = false
        flags.down = false
        yield* Fiber.join(caller)
        yield* TestClock.adjust("5 minutes")
        assert.isAbove(calls, 2, "the key was never refreshed in the background again")
        assert.strictEqual(access(Option.getOrThrow(yield* memory.get("a")).token), `a-${calls}`)
      }))
  })
})
