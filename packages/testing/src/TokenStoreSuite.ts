/**
 * The `TokenStore` conformance suite: the laws every `TokenStore` implementation keeps, as vitest
 * tests. tokenfx runs it against each of its own stores (memory, file, encrypted, KeyValueStore,
 * SQLite, PostgreSQL); run it against yours.
 *
 * The layer is built afresh for each test, and every test writes under keys of its own, so that a
 * store backed by a shared database passes as well as one that starts empty. Leases are checked on
 * `TestClock`: a store must take its deadlines from `Clock`.
 *
 * It needs `vitest` and `@effect/vitest` (optional peer dependencies of `@tokenfx/testing`), and is
 * imported from its own path, not from the package's index.
 *
 * (Not an `@example`: docgen runs examples outside vitest. `packages/core/test/TokenStore.test.ts`
 * is this very call.)
 *
 * ```ts
 * // test/TokenStore.test.ts: swap the memory store for yours
 * import { TokenStore } from "@tokenfx/core"
 * import { tokenStoreSuite } from "@tokenfx/testing/TokenStoreSuite"
 *
 * tokenStoreSuite("memory", TokenStore.layerMemory)
 * ```
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

/**
 * A key no other test (nor an earlier run against the same database) uses.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const freshKey = (label: string): string => `tokenfx-suite/${label}/${globalThis.crypto.randomUUID()}`

/**
 * A token with every field set, secrets derived from `n`.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const fullToken = (n: number): Token.Token =>
  Token.make({
    access_token: Redacted.make(`access-${n}-é✓`),
    token_type: "Bearer",
    expires_in: 3600,
    refresh_token: Redacted.make(`refresh-${n}`),
    refresh_token_expires_in: 86_400,
    scope: "openid profile offline_access",
    id_token: Redacted.make(`id-${n}`)
  }, 1_700_000_000_000 + n)

/**
 * A token with only the required fields.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const minimalToken = (n: number): Token.Token =>
  Token.make({ access_token: Redacted.make(`minimal-${n}`) }, 1_700_000_000_000 + n)

const assertToken = (actual: Token.Token, expected: Token.Token): void => {
  assert.isTrue(Token.isToken(actual), "a stored token reads back as a Token")
  assert.isTrue(Token.Equivalence(actual, expected), "a stored token reads back unchanged, secrets included")
}

const getEntry = (store: TokenStore.TokenStore["Type"], key: string) =>
  Effect.map(store.get(key), Option.getOrThrowWith(() => new Error(`expected an entry at ${key}`)))

/**
 * Registers the conformance tests of a `TokenStore` implementation under `describe(name)`.
 *
 * @since 0.1.0
 * @category suite
 */
export const tokenStoreSuite = <E>(name: string, layer: Layer.Layer<TokenStore.TokenStore, E>): void => {
  describe(`TokenStore conformance: ${name}`, () => {
    const test = <A, E2>(
      title: string,
      body: (store: TokenStore.TokenStore["Type"]) => Effect.Effect<A, E2, Scope.Scope>
    ) => it.scoped(title, () => Effect.flatMap(TokenStore.TokenStore, body).pipe(Effect.provide(layer)))

    describe("get and compare-and-set", () => {
      test("get of a key never written is None", (store) =>
        Effect.gen(function*() {
          assert.isTrue(Option.isNone(yield* store.get(freshKey("empty"))))
        }))

      test("compareAndSet expecting undefined writes an empty key", (store) =>
        Effect.gen(function*() {
          const key = freshKey("create")
          const written = yield* store.compareAndSet(key, fullToken(1), undefined)
          assert.isTrue(Option.isSome(written))
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, Option.getOrThrow(written).version)
          assertToken(entry.token, fullToken(1))
          assertToken(Option.getOrThrow(written).token, fullToken(1))
        }))

      test("compareAndSet expecting undefined loses when a token is stored", (store) =>
        Effect.gen(function*() {
          const key = freshKey("create-twice")
          const first = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(1), undefined))
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(2), undefined)))
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, first.version)
          assertToken(entry.token, fullToken(1))
        }))

      test("compareAndSet with the current version wins and increases the version", (store) =>
        Effect.gen(function*() {
          const key = freshKey("advance")
          const first = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(1), undefined))
          const second = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(2), first.version))
          assert.isAbove(second.version, first.version)
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, second.version)
          assertToken(entry.token, fullToken(2))
        }))

      test("compareAndSet with a stale version loses and leaves the entry alone", (store) =>
        Effect.gen(function*() {
          const key = freshKey("stale")
          const first = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(1), undefined))
          const second = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(2), first.version))
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(3), first.version)))
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(3), second.version + 1000)))
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, second.version)
          assertToken(entry.token, fullToken(2))
        }))

      test("compareAndSet with a version on an empty key loses", (store) =>
        Effect.gen(function*() {
          const key = freshKey("version-on-empty")
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(1), 1)))
          assert.isTrue(Option.isNone(yield* store.get(key)))
        }))

      test("versions strictly increase over set and compareAndSet", (store) =>
        Effect.gen(function*() {
          const key = freshKey("versions")
          const versions: Array<number> = []
          versions.push((yield* store.set(key, fullToken(1))).version)
          versions.push((yield* store.set(key, fullToken(2))).version)
          versions.push(Option.getOrThrow(yield* store.compareAndSet(key, fullToken(3), versions[1])).version)
          versions.push((yield* store.set(key, minimalToken(4))).version)
          for (let i = 1; i < versions.length; i++) assert.isAbove(versions[i], versions[i - 1])
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, versions[3])
          assertToken(entry.token, minimalToken(4))
        }))

      test("set overwrites whatever is stored", (store) =>
        Effect.gen(function*() {
          const key = freshKey("set")
          const first = yield* store.set(key, fullToken(1))
          assertToken(first.token, fullToken(1))
          const second = yield* store.set(key, fullToken(2))
          assertToken((yield* getEntry(store, key)).token, fullToken(2))
          assert.strictEqual((yield* getEntry(store, key)).version, second.version)
        }))

      test("of concurrent writers expecting the same version, exactly one wins", (store) =>
        Effect.gen(function*() {
          const key = freshKey("race")
          const first = yield* store.set(key, fullToken(0))
          const results = yield* Effect.all(
            Array.from({ length: 8 }, (_, i) => store.compareAndSet(key, fullToken(i + 1), first.version)),
            { concurrency: "unbounded" }
          )
          const winners = results.flatMap((result, i) => Option.isSome(result) ? [{ i, entry: result.value }] : [])
          assert.strictEqual(winners.length, 1)
          const entry = yield* getEntry(store, key)
          assert.strictEqual(entry.version, winners[0].entry.version)
          assertToken(entry.token, fullToken(winners[0].i + 1))
        }))
    })

    describe("tokens", () => {
      test("a token with every field round-trips, secrets included", (store) =>
        Effect.gen(function*() {
          const key = freshKey("full")
          const token = fullToken(7)
          yield* store.set(key, token)
          const read = (yield* getEntry(store, key)).token
          assertToken(read, token)
          assert.strictEqual(Redacted.value(read.accessToken), "access-7-é✓")
          assert.strictEqual(read.refreshToken && Redacted.value(read.refreshToken), "refresh-7")
          assert.strictEqual(read.idToken && Redacted.value(read.idToken), "id-7")
          assert.deepStrictEqual(read.scopes, ["openid", "profile", "offline_access"])
        }))

      test("a token with only the required fields round-trips", (store) =>
        Effect.gen(function*() {
          const key = freshKey("minimal")
          yield* store.set(key, minimalToken(8))
          const read = (yield* getEntry(store, key)).token
          assertToken(read, minimalToken(8))
          assert.isUndefined(read.refreshToken)
          assert.isUndefined(read.expiresAt)
        }))

      test("distinct keys stay distinct, whatever characters they hold", (store) =>
        Effect.gen(function*() {
          const base = freshKey("keys")
          const keys = [`${base}/a`, `${base}_a`, `${base}%2Fa`, `${base}/../a`, `${base}/ü ✓`, `${base}/A`]
          yield* Effect.forEach(keys, (key, i) => store.set(key, fullToken(i)))
          for (const [i, key] of keys.entries()) assertToken((yield* getEntry(store, key)).token, fullToken(i))
          const listed = yield* store.keys
          for (const key of keys) assert.include(listed, key)
        }))
    })

    describe("remove, keys and size", () => {
      test("remove deletes the entry and answers whether there was one", (store) =>
        Effect.gen(function*() {
          const key = freshKey("remove")
          const other = freshKey("remove-other")
          yield* store.set(key, fullToken(1))
          yield* store.set(other, fullToken(2))
          assert.isTrue(yield* store.remove(key))
          assert.isTrue(Option.isNone(yield* store.get(key)))
          assert.isFalse(yield* store.remove(key))
          assertToken((yield* getEntry(store, other)).token, fullToken(2))
        }))

      test("a conditional remove with a stale version keeps the entry", (store) =>
        Effect.gen(function*() {
          const key = freshKey("remove-stale")
          const first = yield* store.set(key, fullToken(1))
          const second = yield* store.set(key, fullToken(2))
          assert.isFalse(yield* store.remove(key, first.version))
          assertToken((yield* getEntry(store, key)).token, fullToken(2))
          assert.isTrue(yield* store.remove(key, second.version))
          assert.isTrue(Option.isNone(yield* store.get(key)))
        }))

      test("versions are never reused after a remove", (store) =>
        Effect.gen(function*() {
          const key = freshKey("reuse")
          const first = yield* store.set(key, fullToken(1))
          const second = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(2), first.version))
          assert.isTrue(yield* store.remove(key))
          // A writer still holding the version from before the remove must not match anything.
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(3), second.version)))
          const recreated = Option.getOrThrow(yield* store.compareAndSet(key, fullToken(4), undefined))
          assert.isAbove(recreated.version, second.version)
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(5), second.version)))
          assert.isTrue(Option.isNone(yield* store.compareAndSet(key, fullToken(5), first.version)))
          assert.isFalse(yield* store.remove(key, second.version))
          assertToken((yield* getEntry(store, key)).token, fullToken(4))
        }))

      test("keys and size follow writes and removes", (store) =>
        Effect.gen(function*() {
          const sizeBefore = yield* store.size
          const a = freshKey("list-a")
          const b = freshKey("list-b")
          yield* store.set(a, fullToken(1))
          yield* store.set(b, fullToken(2))
          yield* store.set(b, fullToken(3))
          assert.strictEqual(yield* store.size, sizeBefore + 2)
          const listed = yield* store.keys
          assert.include(listed, a)
          assert.include(listed, b)
          assert.isTrue(yield* store.remove(a))
          assert.strictEqual(yield* store.size, sizeBefore + 1)
          assert.notInclude(yield* store.keys, a)
          assert.include(yield* store.keys, b)
        }))
    })

    describe("stats", () => {
      // What one test added: a shared database holds other tests' rows, counted both times.
      const delta = (before: TokenStore.Stats, after: TokenStore.Stats) => ({
        total: after.total - before.total,
        fresh: after.fresh - before.fresh,
        refresh_window: after.refresh_window - before.refresh_window,
        expired: after.expired - before.expired
      })
      // Tokens received at T (by Clock) living `seconds`; `undefined`: no expiry.
      const T = 1_800_000_000_000
      const living = (n: number, seconds: number | undefined) =>
        Token.make({
          access_token: Redacted.make(`stats-${n}`),
          refresh_token: Redacted.make(`stats-refresh-${n}`),
          ...(seconds === undefined ? {} : { expires_in: seconds })
        }, T)

      test("stats counts stored tokens by state from their expiry, by Clock, and follows writes and removes", (store) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(T)
          const before = yield* store.stats({ refreshWindow: "5 minutes" })
          const [fresh, open, window, expired] = [freshKey("fresh"), freshKey("open"), freshKey("due"), freshKey("old")]
          yield* store.set(fresh, living(1, 3600))
          yield* store.set(open, living(2, undefined))
          yield* store.set(window, living(3, 240))
          yield* store.set(expired, living(4, 60))
          yield* TestClock.setTime(T + 120_000)
          const stats = yield* store.stats({ refreshWindow: "5 minutes" })
          assert.deepStrictEqual(delta(before, stats), { total: 4, fresh: 2, refresh_window: 1, expired: 1 })
          assert.strictEqual(stats.total, stats.fresh + stats.refresh_window + stats.expired)
          // Removed: not counted; rewritten: counted once, in its new state.
          assert.isTrue(yield* store.remove(expired))
          yield* store.set(window, living(5, 7200))
          const after = yield* store.stats({ refreshWindow: "5 minutes" })
          assert.deepStrictEqual(delta(before, after), { total: 3, fresh: 3, refresh_window: 0, expired: 0 })
        }))

      test("the refresh window is the caller's; byUser is undefined unless asked", (store) =>
        Effect.gen(function*() {
          yield* TestClock.setTime(T)
          const before = yield* store.stats({ refreshWindow: "2 hours" })
          yield* store.set(freshKey("window"), living(1, 3600))
          const wide = yield* store.stats({ refreshWindow: "2 hours" })
          assert.deepStrictEqual(delta(before, wide), { total: 1, fresh: 0, refresh_window: 1, expired: 0 })
          assert.isUndefined(wide.byUser)
          const stats = yield* store.stats()
          assert.isUndefined(stats.byUser)
          assert.strictEqual(stats.total, wide.total)
        }))
    })

    describe("leases", () => {
      test("a lease is held until its deadline, then free for another owner", (store) =>
        Effect.gen(function*() {
          const key = freshKey("lease")
          assert.isTrue(yield* store.acquireLease(key, "a", "10 seconds"))
          assert.isFalse(yield* store.acquireLease(key, "b", "10 seconds"))
          yield* TestClock.adjust("9999 millis")
          assert.isFalse(yield* store.acquireLease(key, "b", "10 seconds"))
          yield* TestClock.adjust("1 millis")
          assert.isTrue(yield* store.acquireLease(key, "b", "10 seconds"), "expired lease taken over")
          assert.isFalse(yield* store.acquireLease(key, "a", "10 seconds"))
          assert.isFalse(yield* store.renewLease(key, "a", "10 seconds"), "the old owner lost it")
        }))

      test("the owner may acquire again, which extends the lease", (store) =>
        Effect.gen(function*() {
          const key = freshKey("lease-again")
          assert.isTrue(yield* store.acquireLease(key, "a", "10 seconds"))
          yield* TestClock.adjust("8 seconds")
          assert.isTrue(yield* store.acquireLease(key, "a", "10 seconds"))
          yield* TestClock.adjust("8 seconds")
          assert.isFalse(yield* store.acquireLease(key, "b", "10 seconds"))
        }))

      test("renew extends a lease only for its owner, and only while it is held", (store) =>
        Effect.gen(function*() {
          const key = freshKey("renew")
          assert.isFalse(yield* store.renewLease(key, "a", "10 seconds"), "nothing to renew")
          assert.isTrue(yield* store.acquireLease(key, "a", "10 seconds"))
          yield* TestClock.adjust("9 seconds")
          assert.isFalse(yield* store.renewLease(key, "b", "10 seconds"), "not the owner")
          assert.isTrue(yield* store.renewLease(key, "a", "10 seconds"))
          yield* TestClock.adjust("9 seconds")
          assert.isFalse(yield* store.acquireLease(key, "b", "10 seconds"), "renewed past the first deadline")
          yield* TestClock.adjust("1 seconds")
          assert.isFalse(yield* store.renewLease(key, "a", "10 seconds"), "an expired lease cannot be renewed")
          assert.isTrue(yield* store.acquireLease(key, "b", "10 seconds"))
        }))

      test("only the owner releases a lease", (store) =>
        Effect.gen(function*() {
          const key = freshKey("release")
          assert.isTrue(yield* store.acquireLease(key, "a", "1 minute"))
          yield* store.releaseLease(key, "b")
          assert.isFalse(yield* store.acquireLease(key, "b", "1 minute"), "released by a stranger: still held")
          yield* store.releaseLease(key, "a")
          assert.isTrue(yield* store.acquireLease(key, "b", "1 minute"), "released by its owner: free")
          yield* store.releaseLease(key, "b")
          yield* store.releaseLease(key, "b")
          assert.isTrue(yield* store.acquireLease(key, "c", "1 minute"), "releasing twice is harmless")
        }))

      test("leases are per key and leave tokens alone", (store) =>
        Effect.gen(function*() {
          const key = freshKey("lease-key")
          const other = freshKey("lease-other")
          const entry = yield* store.set(key, fullToken(1))
          assert.isTrue(yield* store.acquireLease(key, "a", "1 minute"))
          assert.isTrue(yield* store.acquireLease(other, "b", "1 minute"))
          const read = yield* getEntry(store, key)
          assert.strictEqual(read.version, entry.version)
          assertToken(read.token, fullToken(1))
          assert.isTrue(Option.isSome(yield* store.compareAndSet(key, fullToken(2), entry.version)))
          assert.isFalse(yield* store.acquireLease(key, "b", "1 minute"))
        }))
    })
  })
}
