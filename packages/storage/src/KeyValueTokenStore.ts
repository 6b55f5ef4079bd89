/**
 * A token store over `@effect/platform`'s `KeyValueStore`: any back-end that has one (memory, a
 * directory, browser storage, your own).
 *
 * Compare-and-set is only as strong as the underlying store: `KeyValueStore` has no conditional
 * write, so the read, the comparison and the write are serialized within this process only. Two
 * processes sharing the underlying store can both win a compare-and-set, and both hold a lease;
 * share a store across processes through `FileTokenStore` or `SqlTokenStore` instead.
 *
 * Entries live under `<prefix>token:<key>`, leases under `<prefix>lease:<key>`, the list of keys
 * under `<prefix>keys`, and an entry that does not decode is copied to
 * `<prefix>corrupt:<key>:<time>` (plus `-<n>` should that exist) before it is cleared. Nothing is
 * encrypted or access-controlled beyond what the underlying store does: wrap it with `EncryptedTokenStore`.
 * A key that is not well-formed UTF-16 (a lone surrogate) is a `TokenStoreError`: back-ends keep keys as
 * UTF-8 or URI components, where it has no faithful form.
 *
 * @since 0.1.0
 */
import * as PlatformError from "@effect/platform/Error"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { requireWellFormed } from "./internal/storeKey.js"
import * as RawTokenStore from "./RawTokenStore.js"

/**
 * Options of the `KeyValueStore` store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prepended to every key this store writes. Default `"tokenfx:"`. */
  readonly prefix?: string | undefined
}

const Stored = Schema.parseJson(Schema.Struct({
  version: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  // `null`: a tombstone, which keeps the version of a removed token.
  data: Schema.NullOr(Schema.String),
  expiresAt: Schema.optional(Schema.Number)
}))

const decodeRecord = Schema.decodeUnknownEither(Stored)
const encodeStored = Schema.encodeEither(Stored)

// A version is an exact JavaScript number up to 2^53 - 1: past it, versions would round and no
// compare-and-set could match again (as in `SqlTokenStore`).
const beyondSafe = (operation: string, key: string) =>
  new TokenStore.TokenStoreError({
    operation,
    key,
    description: "the version would pass 2^53 - 1 and could not be represented exactly; nothing was written"
  })

// The parse error is not kept: it would show the record, payload included.
const encodeRecord = (
  operation: string,
  key: string,
  record: typeof Stored.Type
): Effect.Effect<string, TokenStore.TokenStoreError> =>
  Either.match(encodeStored(record), {
    onLeft: () =>
      Effect.fail(new TokenStore.TokenStoreError({ operation, key, description: "the entry does not encode" })),
    onRight: Effect.succeed
  })

const Lease = Schema.parseJson(Schema.Struct({ owner: Schema.String, deadline: Schema.Number }))
const decodeLease = Schema.decodeUnknownEither(Lease)
const encodeLease = Schema.encodeSync(Lease)

const Keys = Schema.parseJson(Schema.Array(Schema.String))
const decodeKeys = Schema.decodeUnknownEither(Keys)
const encodeKeys = Schema.encodeSync(Keys)

// A back-end may throw while it builds an effect (`layerFileSystem`'s `encodeURIComponent` throws on a
// lone surrogate, in a prefix too): a failure of that call, not a defect. The thrown error's message
// only: a `set` carries the payload.
const guard = (
  kv: KeyValueStore.KeyValueStore
): Pick<KeyValueStore.KeyValueStore, "get" | "set" | "remove" | "has"> => {
  const call = <A>(method: string, f: () => Effect.Effect<A, PlatformError.PlatformError>) =>
    Effect.flatten(Effect.try({
      try: f,
      catch: (thrown) =>
        new PlatformError.BadArgument({
          module: "KeyValueStore",
          method,
          description: thrown instanceof Error ? thrown.message : "the store threw"
        })
    }))
  return {
    get: (key) => call("get", () => kv.get(key)),
    set: (key, value) => call("set", () => kv.set(key, value)),
    remove: (key) => call("remove", () => kv.remove(key)),
    has: (key) => call("has", () => kv.has(key))
  }
}

/**
 * A payload store over the `KeyValueStore` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): Effect.Effect<RawTokenStore.RawTokenStore["Type"], never, KeyValueStore.KeyValueStore> =>
  Effect.gen(function*() {
    const kv = guard(yield* KeyValueStore.KeyValueStore)
    const prefix = options?.prefix ?? "tokenfx:"
    const entryKey = (key: string) => `${prefix}token:${key}`
    const leaseKey = (key: string) => `${prefix}lease:${key}`
    const indexKey = `${prefix}keys`
    // Every read-modify-write runs alone: that is the whole of this store's compare-and-set.
    const mutex = yield* Effect.makeSemaphore(1)

    const failure = (operation: string, key?: string) => (error: PlatformError.PlatformError) =>
      new TokenStore.TokenStoreError({ operation, key, description: error.message, cause: error })

    const failureOr = (operation: string, key: string) =>
    (
      error: PlatformError.PlatformError | TokenStore.TokenStoreError
    ) => error._tag === "TokenStoreError" ? error : failure(operation, key)(error)

    type Read =
      | { readonly _tag: "Missing" }
      | { readonly _tag: "Found"; readonly record: typeof Stored.Type }
      | { readonly _tag: "Corrupt"; readonly raw: string }

    const read = (key: string): Effect.Effect<Read, PlatformError.PlatformError> =>
      Effect.map(kv.get(entryKey(key)), (value): Read => {
        if (Option.isNone(value)) return { _tag: "Missing" }
        return Either.match(decodeRecord(value.value), {
          onLeft: () => ({ _tag: "Corrupt", raw: value.value }),
          onRight: (record) => ({ _tag: "Found", record })
        })
      })

    // Copies the value aside, never deleting it; the caller overwrites or clears the original. Copies made
    // in the same millisecond (always, under TestClock) get a counter rather than overwrite each other.
    const moveAside = (name: string, raw: string) =>
      Effect.gen(function*() {
        const stamp = `${name}:${DateTime.formatIso(yield* DateTime.now)}`
        let target = stamp
        for (let n = 1; yield* kv.has(target); n++) target = `${stamp}-${n}`
        yield* kv.set(target, raw)
        return target
      })

    const moveEntryAside = (key: string, raw: string) =>
      Effect.tap(moveAside(`${prefix}corrupt:${key}`, raw), () => kv.remove(entryKey(key)))

    const index = (operation: string) =>
      kv.get(indexKey).pipe(
        Effect.mapError(failure(operation)),
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeed<ReadonlyArray<string>>([]),
          onSome: (value) =>
            Either.match(decodeKeys(value), {
              onLeft: () =>
                Effect.fail(
                  new TokenStore.TokenStoreError({ operation, description: `the key list ${indexKey} does not decode` })
                ),
              onRight: Effect.succeed
            })
        }))
      )

    // Under the mutex. A key list that does not decode is kept aside and started afresh.
    const remember = (key: string) =>
      Effect.gen(function*() {
        const current = yield* kv.get(indexKey)
        const keys = Option.match(current, {
          onNone: () => Either.right<ReadonlyArray<string>>([]),
          onSome: (value) => decodeKeys(value)
        })
        if (Either.isRight(keys) && keys.right.includes(key)) return
        if (Either.isLeft(keys) && Option.isSome(current)) yield* moveAside(`${prefix}corrupt-keys`, current.value)
        yield* kv.set(indexKey, encodeKeys([...Either.getOrElse(keys, () => []), key]))
      })

    // Runs `f` on the current record alone; an entry that does not decode is moved aside first.
    const mutate = <A>(
      operation: string,
      key: string,
      f: (
        current: Option.Option<typeof Stored.Type>
      ) => Effect.Effect<A, PlatformError.PlatformError | TokenStore.TokenStoreError>
    ) =>
      mutex.withPermits(1)(
        Effect.gen(function*() {
          const current = yield* read(key)
          if (current._tag === "Corrupt") yield* moveEntryAside(key, current.raw)
          return yield* f(current._tag === "Found" ? Option.some(current.record) : Option.none())
        }).pipe(Effect.mapError(failureOr(operation, key)))
      )

    const live = (current: Option.Option<typeof Stored.Type>) => Option.filter(current, (r) => r.data !== null)

    const writeIf = (
      operation: string,
      key: string,
      payload: RawTokenStore.Payload,
      accept: (current: Option.Option<typeof Stored.Type>) => boolean
    ) =>
      mutate(operation, key, (current) => {
        if (!accept(current)) return Effect.succeedNone
        const version = Option.match(current, { onNone: () => 1, onSome: (r) => r.version + 1 })
        if (!Number.isSafeInteger(version)) return Effect.fail(beyondSafe(operation, key))
        return encodeRecord(operation, key, { version, data: payload.data, expiresAt: payload.expiresAt }).pipe(
          Effect.flatMap((record) => kv.set(entryKey(key), record)),
          Effect.zipRight(remember(key)),
          Effect.as(Option.some(version))
        )
      })

    const get = (key: string): Effect.Effect<Option.Option<RawTokenStore.Entry>, TokenStore.StoreError> =>
      Effect.gen(function*() {
        const current = yield* read(key).pipe(Effect.mapError(failure("get", key)))
        switch (current._tag) {
          case "Missing":
            return Option.none()
          case "Found": {
            const { data, version } = current.record
            return data === null ? Option.none() : Option.some({ data, version })
          }
          case "Corrupt": {
            const movedTo = yield* mutex.withPermits(1)(
              Effect.flatMap(read(key), (again) =>
                again._tag === "Corrupt" ? Effect.asSome(moveEntryAside(key, again.raw)) : Effect.succeedNone)
            ).pipe(Effect.mapError(failure("get", key)))
            if (Option.isNone(movedTo)) {
              return yield* get(key)
            }
            return yield* new TokenStore.CorruptedToken({
              key,
              reason: "the stored entry does not decode",
              movedTo: movedTo.value
            })
          }
        }
      })

    const keys = Effect.flatMap(index("keys"), (all) =>
      Effect.filter(all, (key) =>
        read(key).pipe(
          Effect.map((current) =>
            current._tag === "Corrupt" || (current._tag === "Found" && current.record.data !== null)
          ),
          Effect.mapError(failure("keys", key))
        ))).pipe(Effect.map((found) =>
          [...found].sort()
        ))

    // The expiry is in each record, in the clear: no token is decoded. Unreadable records are left out.
    const stats = (options?: TokenStore.StatsOptions) =>
      Effect.gen(function*() {
        const expiries: Array<number | undefined> = []
        for (const key of yield* index("stats")) {
          const current = yield* Effect.mapError(read(key), failure("stats", key))
          if (current._tag === "Found" && current.record.data !== null) expiries.push(current.record.expiresAt)
        }
        return TokenStore.countExpiries(expiries, yield* Clock.currentTimeMillis, options)
      })

    const readLease = (key: string) =>
      Effect.map(kv.get(leaseKey(key)), Option.flatMap((value) => Either.getRight(decodeLease(value))))

    const withLease = <A>(
      operation: string,
      key: string,
      f: (
        current: Option.Option<typeof Lease.Type>,
        now: number
      ) => Effect.Effect<A, PlatformError.PlatformError>
    ) =>
      mutex.withPermits(1)(
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          return yield* f(yield* readLease(key), now)
        })
      ).pipe(Effect.mapError(failure(operation, key)))

    return requireWellFormed(RawTokenStore.RawTokenStore.of({
      get,
      set: (key, payload) => Effect.map(writeIf("set", key, payload, () => true), Option.getOrElse(() => 0)),
      compareAndSet: (key, payload, expected) =>
        writeIf("compareAndSet", key, payload, (current) =>
          expected === undefined
            ? Option.isNone(live(current))
            : Option.exists(live(current), (record) => record.version === expected)),
      // A corrupt entry reads as never written: a write moves it aside first.
      head: (key) =>
        read(key).pipe(
          Effect.map((current): RawTokenStore.Head =>
            current._tag === "Found"
              ? { version: current.record.version, stored: current.record.data !== null }
              : { version: 0, stored: false }
          ),
          Effect.mapError(failure("head", key))
        ),
      compareAndSetRemoved: (key, payload, version) =>
        writeIf("compareAndSetRemoved", key, payload, (current) =>
          Option.match(current, {
            onNone: () => version === 0,
            onSome: (record) => record.data === null && record.version === version
          })),
      remove: (key, expected) =>
        mutate("remove", key, (current) => {
          const entry = live(current)
          if (Option.isNone(entry) || (expected !== undefined && entry.value.version !== expected)) {
            return Effect.succeed(false)
          }
          return encodeRecord("remove", key, { version: entry.value.version, data: null }).pipe(
            Effect.flatMap((record) => kv.set(entryKey(key), record)),
            Effect.as(true)
          )
        }),
      quarantine: (key, version) =>
        mutate("quarantine", key, (current) => {
          const entry = live(current)
          if (Option.isNone(entry) || entry.value.version !== version) return Effect.succeedNone
          return Effect.all([
            encodeRecord("quarantine", key, entry.value),
            encodeRecord("quarantine", key, { version, data: null })
          ]).pipe(
            Effect.flatMap(([kept, tombstone]) =>
              Effect.tap(moveAside(`${prefix}corrupt:${key}`, kept), () => kv.set(entryKey(key), tombstone))
            ),
            Effect.map(Option.some)
          )
        }),
      keys,
      size: Effect.map(keys, (all) => all.length),
      stats,
      acquireLease: (key, owner, ttl) =>
        withLease("acquireLease", key, (current, now) => {
          const taken = Option.isSome(current) && current.value.owner !== owner && current.value.deadline > now
          return taken
            ? Effect.succeed(false)
            : Effect.as(kv.set(leaseKey(key), encodeLease({ owner, deadline: now + Duration.toMillis(ttl) })), true)
        }),
      renewLease: (key, owner, ttl) =>
        withLease("renewLease", key, (current, now) =>
          Option.isSome(current) && current.value.owner === owner && current.value.deadline > now
            ? Effect.as(kv.set(leaseKey(key), encodeLease({ owner, deadline: now + Duration.toMillis(ttl) })), true)
            : Effect.succeed(false)),
      releaseLease: (key, owner) =>
        withLease("releaseLease", key, (current) =>
          Option.isSome(current) && current.value.owner === owner ? kv.remove(leaseKey(key)) : Effect.void)
    }))
  })

/**
 * The payload store over the `KeyValueStore` in context, for `EncryptedTokenStore` to wrap.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRaw = (
  options?: Options
): Layer.Layer<RawTokenStore.RawTokenStore, never, KeyValueStore.KeyValueStore> =>
  Layer.effect(RawTokenStore.RawTokenStore, make(options))

/**
 * The `TokenStore` over the `KeyValueStore` in context, unencrypted.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeyValueStore = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, never, KeyValueStore.KeyValueStore> =>
  RawTokenStore.layerTokenStore.pipe(Layer.provide(layerRaw(options)))
