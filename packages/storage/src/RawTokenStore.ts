/**
 * The store beneath the stores: opaque string payloads with a version and a lease per key. The file,
 * `KeyValueStore` and SQL back-ends implement it; the `Token` codec (`toTokenStore`) and encryption
 * (`EncryptedTokenStore`) are layered on top, so each back-end knows nothing of tokens or keys.
 *
 * Implement it to bring your own back-end: `toTokenStore` then gives you the `TokenStore`, and
 * `EncryptedTokenStore` encryption at rest.
 *
 * @since 0.1.0
 */
import * as StoredToken from "@tokenfx/core/StoredToken"
import type * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * A stored payload and its version. Versions start at 1, grow by one with every write and survive
 * removal, so a writer holding a version from before a removal never matches again.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly data: string
  readonly version: number
}

/**
 * What a write stores: the opaque payload, and metadata kept in clear beside it for back-ends that
 * index it (the access token's expiry, epoch milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface Payload {
  readonly data: string
  readonly expiresAt?: number | undefined
}

/**
 * What a key holds: the version of its last write, whether its payload is still stored or was removed
 * since (`0`: never written), and whether a payload is stored.
 *
 * @since 0.5.0
 * @category models
 */
export interface Head {
  readonly version: number
  readonly stored: boolean
}

/**
 * The payload store. The semantics are those of `TokenStore` with strings for tokens; in addition,
 * `quarantine(key, version)` keeps an entry that its reader found unreadable aside (never deleting it)
 * when it is still at `version`, and answers where it went when the back-end can move data aside.
 *
 * `head` and `compareAndSetRemoved` are optional, and go together: `compareAndSetRemoved(key, payload,
 * version)` writes only when no payload is stored and the last version is `version` (`0`: never
 * written), and answers the new version, `version + 1`. With them `EncryptedTokenStore` seals a write
 * after a removal for the version it will get, in one step; without them it must write, learn the
 * version, and write again, and a reader in between sees a `CorruptedToken`.
 *
 * @since 0.1.0
 * @category tags
 */
export class RawTokenStore extends Context.Tag("@tokenfx/storage/RawTokenStore")<RawTokenStore, {
  readonly get: (key: string) => Effect.Effect<Option.Option<Entry>, TokenStore.StoreError>
  readonly set: (key: string, payload: Payload) => Effect.Effect<number, TokenStore.StoreError>
  readonly compareAndSet: (
    key: string,
    payload: Payload,
    expected: number | undefined
  ) => Effect.Effect<Option.Option<number>, TokenStore.StoreError>
  readonly remove: (key: string, expected?: number | undefined) => Effect.Effect<boolean, TokenStore.StoreError>
  readonly quarantine: (key: string, version: number) => Effect.Effect<Option.Option<string>, TokenStore.StoreError>
  readonly head?: ((key: string) => Effect.Effect<Head, TokenStore.StoreError>) | undefined
  readonly compareAndSetRemoved?:
    | ((key: string, payload: Payload, version: number) => Effect.Effect<Option.Option<number>, TokenStore.StoreError>)
    | undefined
  readonly keys: Effect.Effect<ReadonlyArray<string>, TokenStore.StoreError>
  readonly size: Effect.Effect<number, TokenStore.StoreError>
  /** Stored payloads by state, from the expiry kept beside each (see `TokenStore.stats`). */
  readonly stats: (
    options?: TokenStore.StatsOptions | undefined
  ) => Effect.Effect<TokenStore.Stats, TokenStore.StoreError>
  readonly acquireLease: (
    key: string,
    owner: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<boolean, TokenStore.StoreError>
  readonly renewLease: (
    key: string,
    owner: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<boolean, TokenStore.StoreError>
  readonly releaseLease: (key: string, owner: string) => Effect.Effect<void, TokenStore.StoreError>
}>() {}

const encode = (token: Token.Token): Payload => ({
  data: StoredToken.toJson(token),
  expiresAt: token.expiresAt === undefined ? undefined : DateTime.toEpochMillis(token.expiresAt)
})

/**
 * The `TokenStore` over a payload store: tokens are written with the storage codec (`StoredToken.toJson`)
 * and read back with `StoredToken.fromJson`. A payload that does not decode is quarantined and reported as
 * `CorruptedToken`, saying where it was kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const toTokenStore = (raw: RawTokenStore["Type"]): TokenStore.TokenStore["Type"] => {
  const decode = (key: string, entry: Entry): Effect.Effect<TokenStore.Entry, TokenStore.StoreError> =>
    Either.match(StoredToken.fromJson(entry.data), {
      onRight: (token) => Effect.succeed({ token, version: entry.version }),
      onLeft: (error) =>
        Effect.flatMap(raw.quarantine(key, entry.version), (movedTo) =>
          Effect.fail(
            new TokenStore.CorruptedToken({ key, reason: error.reason, movedTo: Option.getOrUndefined(movedTo) })
          ))
    })

  return TokenStore.TokenStore.of({
    get: (key) =>
      raw.get(key).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (entry) => Effect.asSome(decode(key, entry))
        })),
        Effect.withSpan("TokenStore.get")
      ),
    set: (key, token) =>
      raw.set(key, encode(token)).pipe(
        Effect.map((version): TokenStore.Entry => ({ token, version })),
        Effect.withSpan("TokenStore.set")
      ),
    compareAndSet: (key, token, expected) =>
      raw.compareAndSet(key, encode(token), expected).pipe(
        Effect.map(Option.map((version): TokenStore.Entry => ({ token, version }))),
        Effect.withSpan("TokenStore.compareAndSet")
      ),
    remove: (key, expected) => raw.remove(key, expected).pipe(Effect.withSpan("TokenStore.remove")),
    keys: raw.keys,
    size: raw.size,
    stats: (options) => raw.stats(options).pipe(Effect.withSpan("TokenStore.stats")),
    acquireLease: (key, owner, ttl) =>
      raw.acquireLease(key, owner, ttl).pipe(Effect.withSpan("TokenStore.acquireLease")),
    renewLease: (key, owner, ttl) => raw.renewLease(key, owner, ttl).pipe(Effect.withSpan("TokenStore.renewLease")),
    releaseLease: (key, owner) => raw.releaseLease(key, owner).pipe(Effect.withSpan("TokenStore.releaseLease"))
  })
}

/**
 * The `TokenStore` over the `RawTokenStore` in context, unencrypted.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTokenStore: Layer.Layer<TokenStore.TokenStore, never, RawTokenStore> = Layer.effect(
  TokenStore.TokenStore,
  Effect.map(RawTokenStore, toTokenStore)
)
