/**
 * Valid tokens on demand, for any number of keys. `get` is a memory read and one comparison with
 * `Clock` while the token is fresh; inside the refresh window exactly one refresh runs per key
 * (single flight, and across processes that share a store, one lease holder), rotated refresh tokens
 * are written back by compare-and-set, and a token that is still valid survives a failed refresh.
 *
 * @since 0.1.0
 */
import * as Expiry from "@tokenfx/core/Expiry"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Backoff from "./Backoff.js"
import * as number from "./internal/number.js"
import * as TokenEndpoint from "./TokenEndpoint.js"

/**
 * Where new tokens come from: the refresh token grant (the default), a new client credentials grant,
 * or an effect of your own (a token exchange, a signed assertion, another service).
 *
 * @since 0.1.0
 * @category models
 */
export type Source = Data.TaggedEnum<{
  RefreshToken: { readonly options: TokenEndpoint.ScopeOptions | undefined }
  ClientCredentials: { readonly options: TokenEndpoint.ScopeOptions | undefined }
  Custom: { readonly acquire: (request: SourceRequest) => Effect.Effect<Token.Token, TokenEndpoint.GrantError> }
}>

/**
 * What a custom source is asked for: a new token for `key`, whose stored token (if any) is `token`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SourceRequest {
  readonly key: string
  readonly token: Option.Option<Token.Token>
}

const Source = Data.taggedEnum<Source>()

/**
 * New tokens from the refresh token grant (RFC 6749 section 6). A key without a stored token, or
 * whose expired token has no refresh token, fails with `ReconnectRequired`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const refreshToken = (options?: TokenEndpoint.ScopeOptions | undefined): Source =>
  Source.RefreshToken({ options })

/**
 * New tokens from a new client credentials grant (RFC 6749 section 4.4), for machine clients.
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientCredentials = (options?: TokenEndpoint.ScopeOptions | undefined): Source =>
  Source.ClientCredentials({ options })

/**
 * New tokens from an effect of your own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const custom = (
  acquire: (request: SourceRequest) => Effect.Effect<Token.Token, TokenEndpoint.GrantError>
): Source => Source.Custom({ acquire })

/**
 * Waiting for another holder's refresh lease took longer than `timeout`. The manager does not
 * refresh without the lease: with rotating refresh tokens, two holders presenting the same refresh
 * token can get the whole grant revoked. A still-valid token is returned instead of this error.
 *
 * @since 0.1.0
 * @category errors
 */
export class LeaseTimeout extends Schema.TaggedError<LeaseTimeout>("@tokenfx/http/LeaseTimeout")("LeaseTimeout", {
  key: Schema.String,
  timeout: Schema.DurationFromSelf
}) {
  override get message(): string {
    return `Timed out after ${Duration.format(this.timeout)} waiting for the refresh lease of "${this.key}"`
  }
}

/**
 * Why a refresh attempt failed without the grant being dead. With a still-valid token, `get`
 * returns that token instead, and tries again after a backoff.
 *
 * @since 0.1.0
 * @category errors
 */
export type RefreshError =
  | Exclude<TokenEndpoint.GrantError, OAuthError.InvalidGrant>
  | TokenStore.StoreError
  | LeaseTimeout

/**
 * The errors of `get`: a refresh that failed with no valid token to fall back on, or a dead grant.
 *
 * @since 0.1.0
 * @category errors
 */
export type GetError = RefreshError | OAuthError.ReconnectRequired

/**
 * A lifecycle event. Events carry keys, versions and error tags, never a secret.
 *
 * - `Refreshed`: a new token was written to the store at `version`.
 * - `Rotated`: that new token also carries a new refresh token.
 * - `Adopted`: another holder's token was taken from the store instead of refreshing.
 * - `RefreshFailed`: a refresh attempt failed; `tokenStillValid` says whether callers keep being served.
 * - `ReconnectRequired`: the grant is dead and its token was removed from the store.
 * - `Revoked`: the token was revoked and removed.
 *
 * @since 0.1.0
 * @category models
 */
export type Event = Data.TaggedEnum<{
  Refreshed: { readonly key: string; readonly version: number; readonly expiresAt: DateTime.Utc | undefined }
  Rotated: { readonly key: string; readonly version: number }
  Adopted: { readonly key: string; readonly version: number }
  RefreshFailed: {
    readonly key: string
    readonly error: string
    readonly message: string
    readonly tokenStillValid: boolean
    readonly retryAt: DateTime.Utc
  }
  ReconnectRequired: { readonly key: string; readonly reason: string }
  Revoked: { readonly key: string }
}>

/**
 * Constructors and matchers for {@link Event}.
 *
 * @since 0.1.0
 * @category models
 */
export const Event = Data.taggedEnum<Event>()

/**
 * Refreshes that produced a new token.
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshes = Metric.counter("tokenfx_token_refreshes", {
  description: "Token refreshes that produced a new token",
  incremental: true
})

/**
 * Refresh attempts that failed (a dead grant not included).
 *
 * @since 0.1.0
 * @category metrics
 */
export const refreshFailures = Metric.counter("tokenfx_token_refresh_failures", {
  description: "Token refresh attempts that failed",
  incremental: true
})

/**
 * Tokens taken from the store, refreshed by another holder, instead of refreshing.
 *
 * @since 0.1.0
 * @category metrics
 */
export const adoptions = Metric.counter("tokenfx_token_adoptions", {
  description: "Tokens adopted from another holder's refresh",
  incremental: true
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where new tokens come from. Default: {@link refreshToken}. */
  readonly source?: Source | undefined
  /** When a token enters its refresh window. Default: `Expiry.defaultPolicy`. */
  readonly policy?: Expiry.Policy | undefined
  /**
   * Refresh each held token in a background fiber, ahead of its refresh instant by a random share
   * of its refresh window (up to `jitter`), so that callers never wait. Default: `false`.
   */
  readonly backgroundRefresh?: boolean | undefined
  /** The largest share of the refresh window by which a background refresh runs early. Default: 0.2. */
  readonly jitter?: number | undefined
  /** How long a refresh lease is held at most. Keep it longer than the token endpoint's timeout. Default: 30 seconds. */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /**
   * How long to wait for another holder's lease before failing with `LeaseTimeout`. Default: `leaseTtl`
   * plus 2 seconds, so that the lease of a holder that crashed expires while we wait.
   */
  readonly leaseWait?: Duration.DurationInput | undefined
  /** Backoff between failed refresh attempts: doubles from `initial` up to `max`. Default: 1 second to 1 minute. */
  readonly retryBackoff?: {
    readonly initial?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
  } | undefined
  /** Per-key state unused for this long is released (and its background refresh stopped). Default: 10 minutes. */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** Events kept for a slow subscriber before the oldest are dropped. Default: 1024. */
  readonly eventCapacity?: number | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenManager extends Context.Tag("@tokenfx/http/TokenManager")<TokenManager, {
  /**
   * A valid token for `key`. Refreshes (once, whoever asks) when the token is inside its refresh
   * window or was invalidated; fails only when no valid token can be had.
   */
  readonly get: (key: string) => Effect.Effect<Token.Token, GetError>
  /** Stores a token obtained by a login, replacing whatever was stored. */
  readonly set: (key: string, token: Token.Token) => Effect.Effect<void, TokenStore.StoreError>
  /**
   * Marks exactly this token as rejected (a 401): the next `get` refreshes, unless the token was
   * already replaced, in which case nothing happens.
   */
  readonly invalidate: (key: string, token: Token.Token) => Effect.Effect<void>
  /** Revokes the refresh token (else the access token) at the server (RFC 7009), then removes the token. */
  readonly revoke: (key: string) => Effect.Effect<void, TokenEndpoint.RevocationError | TokenStore.StoreError>
  /** Lifecycle events from the moment the stream is run. */
  readonly events: Stream.Stream<Event>
  /** A subscription to lifecycle events, open from the moment this effect completes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<Event>, never, Scope.Scope>
  /** The keys whose state is held in memory. */
  readonly keys: Effect.Effect<ReadonlyArray<string>>
}>() {}

// What `get` reads on its hot path. `refreshAt` is when `get` must leave it: the policy's refresh
// instant, a backoff deadline after a failed refresh, or -Infinity once the token was rejected.
interface Snapshot {
  readonly token: Token.Token
  readonly version: number
  readonly refreshAt: number
  readonly expiredAt: number
  readonly rejected: boolean
  readonly result: Effect.Effect<Token.Token>
}

interface KeyState {
  readonly key: string
  snapshot: Snapshot | undefined
  flight: Deferred.Deferred<Token.Token, GetError> | undefined
  failures: number
  // The last failure, served to callers with no valid token until the backoff is over.
  failure: { readonly error: RefreshError; readonly until: number } | undefined
  // A token rejected (401) before its state held a snapshot: never to be served from the store.
  rejected: Token.Token | undefined
  lastUsed: number
}

class LeaseBusy extends Data.TaggedError("LeaseBusy") {}

/**
 * A token manager over the `TokenStore` and `TokenEndpoint` in context. Its background fibers stop
 * when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: Options | undefined
) => Effect.Effect<TokenManager["Type"], never, TokenStore.TokenStore | TokenEndpoint.TokenEndpoint | Scope.Scope> =
  Effect.fnUntraced(function*(options?: Options | undefined) {
    const store = yield* TokenStore.TokenStore
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const scope = yield* Effect.scope
    // Identifies this manager as a lease holder; unguessable so that no one else can release its lease.
    const owner = globalThis.crypto.randomUUID()
    const source = options?.source ?? refreshToken()
    const policy = options?.policy ?? Expiry.defaultPolicy
    const background = options?.backgroundRefresh === true
    const jitter = number.finiteOr(options?.jitter, 0.2, 0, 1)
    const leaseTtl = Duration.decode(options?.leaseTtl ?? Duration.seconds(30))
    const leaseWait = options?.leaseWait === undefined
      ? Duration.sum(leaseTtl, Duration.seconds(2))
      : Duration.decode(options.leaseWait)
    const backoffInitial = Duration.toMillis(options?.retryBackoff?.initial ?? Duration.seconds(1))
    const backoffMax = Duration.toMillis(options?.retryBackoff?.max ?? Duration.minutes(1))
    // At least a second, so that the sweeper never spins.
    const idleTimeToLive = Duration.max(
      Duration.decode(options?.idleTimeToLive ?? Duration.minutes(10)),
      Duration.seconds(1)
    )
    const idleMillis = Duration.toMillis(idleTimeToLive)

    const pubsub = yield* PubSub.sliding<Event>(Math.floor(number.finiteOr(options?.eventCapacity, 1024, 1)))
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    const backgroundFibers = yield* FiberMap.make<string>()
    const states = new Map<string, KeyState>()

    const leaseSchedule = Schedule.exponential(Duration.millis(20)).pipe(
      Schedule.union(Schedule.spaced(Duration.seconds(1))),
      Schedule.jittered,
      Schedule.upTo(leaseWait)
    )

    const expiredAt = (token: Token.Token): number => Expiry.expiredAtMillis(token, policy) ?? Infinity
    // A refresh-token source cannot renew a token without a refresh token: it is used until it expires.
    const dueAt = (token: Token.Token): number =>
      source._tag === "RefreshToken" && token.refreshToken === undefined
        ? expiredAt(token)
        : Expiry.refreshAtMillis(token, policy) ?? Infinity
    const isRejected = (token: Token.Token, rejected: Token.Token | undefined): boolean =>
      rejected !== undefined && Token.sameAccessToken(token, rejected)
    const usable = (token: Token.Token, at: number, rejected: Token.Token | undefined): boolean =>
      at < dueAt(token) && !isRejected(token, rejected)

    const stateFor = (key: string, now: number): KeyState => {
      let state = states.get(key)
      if (state === undefined) {
        state = {
          key,
          snapshot: undefined,
          flight: undefined,
          failures: 0,
          failure: undefined,
          rejected: undefined,
          lastUsed: now
        }
        states.set(key, state)
      }
      state.lastUsed = now
      return state
    }

    const publish = (event: Event) => PubSub.publish(pubsub, event)

    const setSnapshot = (state: KeyState, snapshot: Snapshot | undefined): Effect.Effect<void> =>
      Effect.suspend(() => {
        state.snapshot = snapshot
        if (!background) return Effect.void
        if (snapshot === undefined || snapshot.refreshAt === Infinity) {
          return FiberMap.remove(backgroundFibers, state.key)
        }
        // Replaces (interrupts) the fiber waiting for the previous snapshot.
        return Effect.asVoid(FiberMap.run(backgroundFibers, state.key, wake(state, snapshot)))
      })

    const install = (state: KeyState, entry: TokenStore.Entry): Effect.Effect<void> => {
      state.failures = 0
      state.failure = undefined
      state.rejected = undefined
      const token = entry.token
      return setSnapshot(state, {
        token,
        version: entry.version,
        refreshAt: dueAt(token),
        expiredAt: expiredAt(token),
        rejected: false,
        result: Exit.succeed(token)
      })
    }

    // Takes a stored entry as the best known token unless it is the one we hold or the rejected one.
    const remember = (state: KeyState, entry: TokenStore.Entry, rejected: Token.Token | undefined) =>
      state.snapshot?.version === entry.version || isRejected(entry.token, rejected)
        ? Effect.void
        : install(state, entry)

    const adopt = (state: KeyState, entry: TokenStore.Entry): Effect.Effect<Token.Token> =>
      Effect.gen(function*() {
        const announce = state.snapshot !== undefined && state.snapshot.version !== entry.version
        yield* install(state, entry)
        if (announce) {
          yield* Metric.increment(adoptions)
          yield* publish(Event.Adopted({ key: state.key, version: entry.version }))
        }
        return entry.token
      })

    const reconnect = (
      state: KeyState,
      current: TokenStore.Entry | undefined,
      reason: string,
      cause?: unknown
    ): Effect.Effect<never, OAuthError.ReconnectRequired> =>
      Effect.gen(function*() {
        if (current !== undefined) {
          // Conditional: a token another holder wrote meanwhile is not ours to remove.
          yield* store.remove(state.key, current.version).pipe(
            Effect.catchAll((error) =>
              Effect.logWarning("TokenManager: could not remove a dead token").pipe(
                Effect.annotateLogs({ key: state.key, error: error._tag, message: error.message })
              )
            )
          )
          yield* publish(Event.ReconnectRequired({ key: state.key, reason }))
        }
        state.failures = 0
        state.failure = undefined
        yield* setSnapshot(state, undefined)
        return yield* new OAuthError.ReconnectRequired({ key: state.key, reason, cause })
      })

    const acquire = (key: string, current: TokenStore.Entry | undefined) => {
      switch (source._tag) {
        case "RefreshToken":
          // Only reached with a stored token that has a refresh token.
          return endpoint.refresh(current!.token, source.options)
        case "ClientCredentials":
          return endpoint.clientCredentials(source.options)
        case "Custom":
          return source.acquire({ key, token: Option.fromNullable(current?.token) })
      }
    }

    // Writes a new token on the version read before the refresh. Losing means another holder wrote.
    const write = (state: KeyState, current: TokenStore.Entry | undefined, token: Token.Token) =>
      Effect.gen(function*() {
        const written = yield* store.compareAndSet(state.key, token, current?.version).pipe(
          Effect.retry({ times: 2, schedule: Schedule.exponential(Duration.millis(100)) }),
          Effect.catchAll((error) =>
            // The server has rotated already: keep serving the new token from memory rather than lose it.
            Effect.as(
              Effect.logError("TokenManager: could not store a refreshed token").pipe(
                Effect.annotateLogs({ key: state.key, error: error._tag, message: error.message })
              ),
              Option.some<TokenStore.Entry>({ token, version: current?.version ?? 0 })
            )
          )
        )
        if (Option.isSome(written)) {
          const entry = written.value
          yield* install(state, entry)
          yield* Metric.increment(refreshes)
          yield* publish(Event.Refreshed({ key: state.key, version: entry.version, expiresAt: token.expiresAt }))
          if (
            current !== undefined && token.refreshToken !== undefined &&
            !Token.sameRefreshToken(current.token, token)
          ) {
            yield* publish(Event.Rotated({ key: state.key, version: entry.version }))
          }
          return token
        }
        const stored = yield* store.get(state.key)
        if (Option.isSome(stored)) return yield* adopt(state, stored.value)
        return yield* reconnect(state, undefined, "the token was removed while it was being refreshed")
      })

    // invalid_grant: unless another holder rotated the refresh token meanwhile, the grant is dead.
    const onInvalidGrant = (state: KeyState, current: TokenStore.Entry | undefined, error: OAuthError.InvalidGrant) =>
      Effect.gen(function*() {
        const stored = yield* store.get(state.key)
        if (
          Option.isSome(stored) && current !== undefined &&
          !Token.sameRefreshToken(stored.value.token, current.token)
        ) {
          return yield* adopt(state, stored.value)
        }
        return yield* reconnect(state, current, "the refresh token was rejected (invalid_grant)", error)
      })

    const renew = (state: KeyState, current: TokenStore.Entry | undefined, rejected: Token.Token | undefined) =>
      Effect.gen(function*() {
        if (source._tag === "RefreshToken") {
          if (current === undefined) return yield* reconnect(state, undefined, "no token is stored")
          if (current.token.refreshToken === undefined) {
            const now = yield* Clock.currentTimeMillis
            if (now < expiredAt(current.token) && !isRejected(current.token, rejected)) {
              return yield* adopt(state, current)
            }
            return yield* reconnect(state, current, "the token expired and has no refresh token")
          }
        }
        return yield* acquire(state.key, current).pipe(
          Effect.matchEffect({
            onFailure: (error): Effect.Effect<Token.Token, GetError> =>
              error._tag === "InvalidGrant" ? onInvalidGrant(state, current, error) : Effect.fail(error),
            onSuccess: (token) => write(state, current, token)
          })
        )
      })

    // Takes the lease, or adopts the token another holder stores while we wait for it.
    const lease = (key: string, lead: number, rejected: Token.Token | undefined) =>
      Effect.gen(function*() {
        if (yield* store.acquireLease(key, owner, leaseTtl)) return Option.none<TokenStore.Entry>()
        const stored = yield* store.get(key)
        const now = yield* Clock.currentTimeMillis
        if (Option.isSome(stored) && usable(stored.value.token, now + lead, rejected)) return stored
        return yield* new LeaseBusy()
      }).pipe(
        Effect.retry({ schedule: leaseSchedule, while: (error) => error._tag === "LeaseBusy" }),
        Effect.catchTag("LeaseBusy", () => new LeaseTimeout({ key, timeout: leaseWait }))
      )

    const release = (key: string) =>
      store.releaseLease(key, owner).pipe(
        Effect.catchAll((error) =>
          Effect.logWarning("TokenManager: could not release the refresh lease").pipe(
            Effect.annotateLogs({ key, error: error._tag, message: error.message })
          )
        )
      )

    const underLease = (state: KeyState, lead: number, rejected: Token.Token | undefined) =>
      Effect.gen(function*() {
        const adopted = yield* lease(state.key, lead, rejected)
        if (Option.isSome(adopted)) return yield* adopt(state, adopted.value)
        return yield* Effect.gen(function*() {
          // Read again under the lease: the previous holder may have refreshed already.
          const stored = yield* store.get(state.key)
          const now = yield* Clock.currentTimeMillis
          if (Option.isSome(stored)) {
            if (usable(stored.value.token, now + lead, rejected)) return yield* adopt(state, stored.value)
            yield* remember(state, stored.value, rejected)
          }
          return yield* renew(state, Option.getOrUndefined(stored), rejected)
        }).pipe(Effect.ensuring(release(state.key)))
      })

    // A failed refresh: serve the still-valid token until the backoff is over, else fail.
    const recover = (state: KeyState, error: RefreshError) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        state.failures += 1
        const backoff = Math.min(backoffMax, backoffInitial * 2 ** Math.min(30, state.failures - 1))
        const retryAt = now + Math.max(backoff, Duration.toMillis(Backoff.retryAfter(error) ?? Duration.zero))
        const snapshot = state.snapshot
        const stillValid = snapshot !== undefined && !snapshot.rejected && now < snapshot.expiredAt
        yield* Metric.increment(refreshFailures)
        yield* publish(Event.RefreshFailed({
          key: state.key,
          error: error._tag,
          message: error.message,
          tokenStillValid: stillValid,
          retryAt: DateTime.unsafeMake(retryAt)
        }))
        yield* Effect.logWarning("TokenManager: refresh failed").pipe(
          Effect.annotateLogs({
            key: state.key,
            error: error._tag,
            message: error.message,
            tokenStillValid: stillValid
          })
        )
        if (stillValid) {
          yield* setSnapshot(state, { ...snapshot, refreshAt: Math.min(retryAt, snapshot.expiredAt) })
          return snapshot.token
        }
        state.failure = { error, until: retryAt }
        return yield* Effect.fail(error)
      })

    // `root`: a background refresh starts its own trace rather than hang under the previous one.
    const flight = (state: KeyState, lead: number, root: boolean): Effect.Effect<Token.Token, GetError> =>
      Effect.gen(function*() {
        const snapshot = state.snapshot
        const rejected = snapshot === undefined ? state.rejected : snapshot.rejected ? snapshot.token : undefined
        if (snapshot === undefined) {
          const stored = yield* store.get(state.key)
          if (Option.isSome(stored)) {
            const now = yield* Clock.currentTimeMillis
            yield* remember(state, stored.value, rejected)
            if (usable(stored.value.token, now + lead, rejected)) return stored.value.token
          }
        }
        return yield* underLease(state, lead, rejected)
      }).pipe(
        Effect.catchIf(
          (error): error is RefreshError => error._tag !== "ReconnectRequired",
          (error) => recover(state, error)
        ),
        Effect.withSpan("TokenManager.refresh", { attributes: { "tokenfx.key": state.key }, root })
      )

    // Starts the flight in the manager's scope, so that an interrupted caller does not cancel it for
    // the others; everyone awaits the same deferred.
    const start = (state: KeyState, lead: number, root: boolean) =>
      Effect.uninterruptible(Effect.suspend(() => {
        if (state.flight !== undefined) return Effect.succeed(state.flight)
        const deferred = Deferred.unsafeMake<Token.Token, GetError>(FiberId.none)
        state.flight = deferred
        return Effect.map(Effect.forkIn(flight(state, lead, root), scope), (fiber) => {
          fiber.addObserver((exit) => {
            if (state.flight === deferred) state.flight = undefined
            Deferred.unsafeDone(deferred, exit)
          })
          return deferred
        })
      })).pipe(Effect.flatMap(Deferred.await))

    // `lead`: how far ahead of now the token must stay fresh (the background refresh runs early).
    const join = (state: KeyState, lead: number, root: boolean): Effect.Effect<Token.Token, GetError> =>
      Effect.clockWith((clock): Effect.Effect<Token.Token, GetError> => {
        if (state.flight !== undefined) return Deferred.await(state.flight)
        const now = clock.unsafeCurrentTimeMillis()
        const snapshot = state.snapshot
        if (snapshot !== undefined && now + lead < snapshot.refreshAt) return snapshot.result
        const failure = state.failure
        const valid = snapshot !== undefined && !snapshot.rejected && now < snapshot.expiredAt
        if (failure !== undefined && now < failure.until && !valid) return Effect.fail(failure.error)
        return start(state, lead, root)
      })

    const wake = (state: KeyState, snapshot: Snapshot): Effect.Effect<void> =>
      Effect.gen(function*() {
        const window = Math.max(0, snapshot.expiredAt - snapshot.refreshAt)
        const lead = Math.floor((yield* Random.next) * jitter * window)
        const now = yield* Clock.currentTimeMillis
        const delay = snapshot.refreshAt - lead - now
        if (delay > 0) yield* Effect.sleep(Duration.millis(delay))
        // Failures are reported as events; the next snapshot reschedules this fiber.
        yield* Effect.ignore(join(state, lead, true))
      })

    const slowGet = (key: string, now: number): Effect.Effect<Token.Token, GetError> =>
      Effect.suspend(() => join(stateFor(key, now), 0, false)).pipe(
        Effect.withSpan("TokenManager.get", { attributes: { "tokenfx.key": key } })
      )

    const get = (key: string): Effect.Effect<Token.Token, GetError> =>
      Effect.clockWith((clock): Effect.Effect<Token.Token, GetError> => {
        const now = clock.unsafeCurrentTimeMillis()
        const state = states.get(key)
        if (state !== undefined) {
          state.lastUsed = now
          const snapshot = state.snapshot
          if (snapshot !== undefined && now < snapshot.refreshAt) return snapshot.result
        }
        return slowGet(key, now)
      })

    const set = (key: string, token: Token.Token): Effect.Effect<void, TokenStore.StoreError> =>
      Effect.gen(function*() {
        const entry = yield* store.set(key, token)
        const now = yield* Clock.currentTimeMillis
        yield* install(stateFor(key, now), entry)
      }).pipe(Effect.withSpan("TokenManager.set", { attributes: { "tokenfx.key": key } }))

    const invalidate = (key: string, token: Token.Token): Effect.Effect<void> =>
      Effect.clockWith((clock) =>
        Effect.sync(() => {
          const state = stateFor(key, clock.unsafeCurrentTimeMillis())
          const snapshot = state.snapshot
          if (snapshot === undefined) {
            state.rejected = token
          } else if (!snapshot.rejected && Token.sameAccessToken(snapshot.token, token)) {
            state.snapshot = { ...snapshot, rejected: true, refreshAt: -Infinity }
          }
        })
      )

    const revoke = (key: string): Effect.Effect<void, TokenEndpoint.RevocationError | TokenStore.StoreError> =>
      Effect.gen(function*() {
        const stored = yield* store.get(key)
        const token = Option.isSome(stored) ? stored.value.token : states.get(key)?.snapshot?.token
        if (token !== undefined) {
          yield* token.refreshToken === undefined
            ? endpoint.revoke(token.accessToken, "access_token")
            : endpoint.revoke(token.refreshToken, "refresh_token")
        }
        yield* store.remove(key)
        const state = states.get(key)
        if (state !== undefined) {
          state.failures = 0
          state.failure = undefined
          yield* setSnapshot(state, undefined)
        }
        if (token !== undefined) yield* publish(Event.Revoked({ key }))
      }).pipe(Effect.withSpan("TokenManager.revoke", { attributes: { "tokenfx.key": key } }))

    // Releases the state of keys nobody asked for during `idleTimeToLive` (stopping their background refresh).
    const sweep = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      for (const [key, state] of states) {
        if (state.flight === undefined && now - state.lastUsed >= idleMillis) {
          states.delete(key)
          if (background) yield* FiberMap.remove(backgroundFibers, key)
        }
      }
    })
    yield* Effect.sleep(idleTimeToLive).pipe(Effect.zipRight(sweep), Effect.forever, Effect.forkScoped)

    return TokenManager.of({
      get,
      set,
      invalidate,
      revoke,
      events: Stream.fromPubSub(pubsub),
      subscribe: PubSub.subscribe(pubsub),
      keys: Effect.sync(() => Array.from(states.keys()))
    })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options | undefined
): Layer.Layer<TokenManager, never, TokenStore.TokenStore | TokenEndpoint.TokenEndpoint> =>
  Layer.scoped(TokenManager, make(options))
