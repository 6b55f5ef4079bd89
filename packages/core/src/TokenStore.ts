/**
 * Where tokens live: a versioned entry per key (a user id, a client id), written by compare-and-set
 * so two writers never silently overwrite each other, and a lease per key so that processes sharing
 * a store refresh a grant once.
 *
 * This module declares the service and its in-memory implementation; file, encrypted, KeyValueStore
 * and SQL stores live in `@tokenfx/storage`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as OAuthError from "./OAuthError.js"
import type { Token } from "./Token.js"
import * as TokenHealth from "./TokenHealth.js"

/**
 * Marks every store error, for `isStoreError`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const ErrorTypeId: unique symbol = Symbol.for("@tokenfx/core/TokenStoreError")

/**
 * The type of `ErrorTypeId`.
 *
 * @since 0.1.0
 * @category type ids
 */
export type ErrorTypeId = typeof ErrorTypeId

/**
 * A stored token and its version. Versions start at 1 and grow by one with every write.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly token: Token
  readonly version: number
}

/**
 * The store could not be read or written: I/O, connection, or permission failure.
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@tokenfx/core/TokenStoreError")(
  "TokenStoreError",
  {
    operation: Schema.String,
    key: Schema.optional(Schema.String),
    description: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  /**
   * Marks the error for `isStoreError`.
   *
   * @since 0.1.0
   */
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.operation}${this.key === undefined ? "" : ` "${this.key}"`}: ${this.description}`
  }
}

/**
 * A stored token that does not decode (or decrypt). Where the store could, it kept the bad data
 * aside at `movedTo` instead of deleting it.
 *
 * @since 0.1.0
 * @category errors
 */
export class CorruptedToken extends Schema.TaggedError<CorruptedToken>("@tokenfx/core/CorruptedToken")(
  "CorruptedToken",
  {
    key: Schema.String,
    reason: Schema.String,
    movedTo: Schema.optional(Schema.String)
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  /**
   * Marks the error for `isStoreError`.
   *
   * @since 0.1.0
   */
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    const moved = this.movedTo === undefined ? "" : ` (kept aside as ${this.movedTo})`
    return `Stored token "${this.key}" is corrupted: ${this.reason}${moved}`
  }
}

/**
 * The store refuses to use data others could read, or to which it cannot apply its protection
 * (a token file readable by group or others, a missing or wrong encryption key).
 *
 * @since 0.1.0
 * @category errors
 */
export class InsecureStorage extends Schema.TaggedError<InsecureStorage>("@tokenfx/core/InsecureStorage")(
  "InsecureStorage",
  {
    key: Schema.optional(Schema.String),
    reason: Schema.String
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  /**
   * Marks the error for `isStoreError`.
   *
   * @since 0.1.0
   */
  readonly [ErrorTypeId]: ErrorTypeId = ErrorTypeId
  override get message(): string {
    return `${this.key === undefined ? "" : `"${this.key}": `}${this.reason}`
  }
}

/**
 * Any error a `TokenStore` fails with.
 *
 * @since 0.1.0
 * @category errors
 */
export type StoreError = TokenStoreError | CorruptedToken | InsecureStorage

/**
 * Whether a value is one of the store errors.
 *
 * @since 0.1.0
 * @category guards
 */
export const isStoreError = (u: unknown): u is StoreError => Predicate.hasProperty(u, ErrorTypeId)

/**
 * What `stats` is asked for.
 *
 * @since 0.3.0
 * @category models
 */
export interface StatsOptions {
  /** How long before its expiry a token counts as `refresh_window`. Default 5 minutes (`Expiry.defaultPolicy.max`). */
  readonly refreshWindow?: Duration.DurationInput | undefined
  /** Also count per user, where the store keeps a user per key (`SqlTokenStore`'s `user_id`). Default `false`. */
  readonly byUser?: boolean | undefined
}

/**
 * Stored tokens by state: what a store can tell from the expiry it keeps beside each token, at the
 * time from `Clock` (see `TokenHealth.classifyExpiry`; a store cannot tell `dead` from `expired`).
 *
 * @since 0.3.0
 * @category models
 */
export interface Counts {
  readonly total: number
  readonly fresh: number
  readonly refresh_window: number
  readonly expired: number
}

/**
 * The counts of a store: all of it, and per user when asked (`byUser`) and the store keys by user;
 * otherwise `byUser` is `undefined`. Never a token.
 *
 * @since 0.3.0
 * @category models
 */
export interface Stats extends Counts {
  readonly byUser: ReadonlyArray<Counts & { readonly user: string }> | undefined
}

/**
 * The default refresh window of `stats`: 5 minutes.
 *
 * @since 0.3.0
 * @category models
 */
export const defaultStatsWindow: Duration.Duration = Duration.minutes(5)

/**
 * Counts the expiries (epoch milliseconds, `undefined` for none) of stored tokens at `now`, for a
 * store that reads them one by one (memory, files, a key-value store).
 *
 * @since 0.3.0
 * @category constructors
 */
export const countExpiries = (
  expiries: Iterable<number | undefined>,
  now: number,
  options?: StatsOptions | undefined
): Stats => {
  const counts = { total: 0, fresh: 0, refresh_window: 0, expired: 0 }
  const window = options?.refreshWindow ?? defaultStatsWindow
  for (const expiresAt of expiries) {
    counts.total++
    counts[TokenHealth.classifyExpiry(expiresAt, now, window)]++
  }
  return { ...counts, byUser: undefined }
}

/**
 * The store.
 *
 * `compareAndSet(key, token, expected)` writes only when the stored version is `expected`
 * (`undefined`: only when nothing is stored) and answers the new entry, or `None` when another
 * writer got there first.
 *
 * A lease lets one holder at a time refresh a key across processes: `acquireLease` succeeds when no
 * one else holds an unexpired lease, `renewLease` extends a lease still held by `owner`, and
 * `releaseLease` gives it up. Deadlines come from `Clock`.
 *
 * `stats` counts the stored tokens by state (and per user where the store knows users) from their
 * expiry alone: operators' numbers, cheap enough to poll (see `@tokenfx/http/StoreMetrics`).
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@tokenfx/core/TokenStore")<TokenStore, {
  readonly get: (key: string) => Effect.Effect<Option.Option<Entry>, StoreError>
  readonly set: (key: string, token: Token) => Effect.Effect<Entry, StoreError>
  readonly compareAndSet: (
    key: string,
    token: Token,
    expected: number | undefined
  ) => Effect.Effect<Option.Option<Entry>, StoreError>
  readonly remove: (key: string, expected?: number | undefined) => Effect.Effect<boolean, StoreError>
  readonly keys: Effect.Effect<ReadonlyArray<string>, StoreError>
  readonly size: Effect.Effect<number, StoreError>
  /** Stored tokens by state, at the time from `Clock`; cheap (an indexed query in SQL), never a token. */
  readonly stats: (options?: StatsOptions | undefined) => Effect.Effect<Stats, StoreError>
  readonly acquireLease: (
    key: string,
    owner: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<boolean, StoreError>
  readonly renewLease: (
    key: string,
    owner: string,
    ttl: Duration.DurationInput
  ) => Effect.Effect<boolean, StoreError>
  readonly releaseLease: (key: string, owner: string) => Effect.Effect<void, StoreError>
}>() {}

/**
 * An in-memory store: per process, lost on exit. Leases are honoured between the fibers that share it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<TokenStore["Type"]> = Effect.sync(() => {
  // A removed key keeps its last version in place of its entry: versions survive removal, so a writer
  // holding a version from before a remove never matches again. (One `Map` rather than a second one
  // for versions: about 45 bytes less per key.)
  const entries = new Map<string, Entry | number>()
  let size = 0
  const leases = new Map<string, { readonly owner: string; readonly deadline: number }>()

  const current = (key: string): Entry | undefined => {
    const held = entries.get(key)
    return typeof held === "object" ? held : undefined
  }

  const write = (key: string, token: Token): Entry => {
    const held = entries.get(key)
    if (typeof held !== "object") size++
    const entry: Entry = {
      token,
      version: (held === undefined ? 0 : typeof held === "number" ? held : held.version) + 1
    }
    entries.set(key, entry)
    return entry
  }

  const holder = (key: string, now: number): string | undefined => {
    const lease = leases.get(key)
    return lease !== undefined && lease.deadline > now ? lease.owner : undefined
  }

  return TokenStore.of({
    get: (key) => Effect.sync(() => Option.fromNullable(current(key))),
    set: (key, token) => Effect.sync(() => write(key, token)),
    compareAndSet: (key, token, expected) =>
      Effect.sync(() => current(key)?.version === expected ? Option.some(write(key, token)) : Option.none()),
    remove: (key, expected) =>
      Effect.sync(() => {
        const entry = current(key)
        if (entry === undefined || (expected !== undefined && entry.version !== expected)) return false
        entries.set(key, entry.version)
        size--
        return true
      }),
    keys: Effect.sync(() => Array.from(entries).flatMap(([key, held]) => typeof held === "object" ? [key] : [])),
    size: Effect.sync(() => size),
    stats: (options) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        countExpiries(
          Array.from(entries.values()).flatMap((held) =>
            typeof held !== "object"
              ? []
              : [held.token.expiresAt === undefined ? undefined : held.token.expiresAt.epochMillis]
          ),
          now,
          options
        )),
    acquireLease: (key, owner, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const current = holder(key, now)
        if (current !== undefined && current !== owner) return false
        leases.set(key, { owner, deadline: now + Duration.toMillis(ttl) })
        return true
      }),
    renewLease: (key, owner, ttl) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (holder(key, now) !== owner) return false
        leases.set(key, { owner, deadline: now + Duration.toMillis(ttl) })
        return true
      }),
    releaseLease: (key, owner) =>
      Effect.sync(() => {
        if (leases.get(key)?.owner === owner) leases.delete(key)
      })
  })
})

/**
 * A `TokenStore` in memory, for one process (each provision of the layer is a new, empty store).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)
