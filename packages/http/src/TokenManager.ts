/**
 * Valid tokens on demand, for any number of keys. `get` is a memory read and one comparison with
 * `Clock` while the token is fresh; inside the refresh window exactly one refresh runs per key
 * (single flight, and across processes that share a store, one lease holder whose lease outlives its
 * refresh), rotated refresh tokens are written back by compare-and-set and never lost to a failed
 * write, a token that is still valid survives a failed refresh, and nothing is retried without bound.
 * Where new tokens come from is a `TokenSource`.
 *
 * @since 0.1.0
 */
import * as Expiry from "@tokenfx/core/Expiry"
import type * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as backgroundRefresh from "./internal/backgroundRefresh.js"
import * as fastPath from "./internal/fastPath.js"
import * as keyState from "./internal/keyState.js"
import * as keyTable from "./internal/keyTable.js"
import * as leaseModule from "./internal/lease.js"
import * as managerMetrics from "./internal/managerMetrics.js"
import * as number from "./internal/number.js"
import * as reconnectSoon from "./internal/reconnectSoon.js"
import * as refreshModule from "./internal/refresh.js"
import * as revokeModule from "./internal/revoke.js"
import * as shutdownModule from "./internal/shutdown.js"
import { attemptTimeout, within } from "./internal/storeBound.js"
import * as tokensActive from "./internal/tokensActive.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type * as TokenManagerError from "./TokenManagerError.js"
import type * as TokenManagerEvent from "./TokenManagerEvent.js"
import * as TokenManagerRevocation from "./TokenManagerRevocation.js"
import * as TokenSource from "./TokenSource.js"

export {
  /** Re-exported from `TokenManagerEvent`: what a `TokenManager` tells its subscribers.
   * @since 0.1.0
   * @category models */
  Event
} from "./TokenManagerEvent.js"

export {
  /** Re-exported from `TokenSource`: new tokens from the client credentials grant.
   * @since 0.1.0
   * @category constructors */
  clientCredentials,
  /** Re-exported from `TokenSource`: new tokens from an effect of your own.
   * @since 0.1.0
   * @category constructors */
  custom,
  /** Re-exported from `TokenSource`: new tokens from the refresh token grant.
   * @since 0.1.0
   * @category constructors */
  refreshToken
} from "./TokenSource.js"

/**
 * Why a refresh failed.
 *
 * @since 0.1.0
 * @category errors
 */
export type RefreshError = TokenManagerError.RefreshError

/**
 * Why `get` returned no token.
 *
 * @since 0.1.0
 * @category errors
 */
export type GetError = TokenManagerError.GetError

/**
 * What `revoke` did (the same type as `TokenManagerRevocation.Revocation`).
 *
 * @since 0.2.0
 * @category models
 */
export type Revocation = TokenManagerRevocation.Revocation

/**
 * Constructors and matchers of `Revocation`.
 *
 * @since 0.2.0
 * @category models
 */
export const Revocation = TokenManagerRevocation.Revocation

/**
 * Options of `revoke` (the same type as `TokenManagerRevocation.RevokeOptions`).
 *
 * @since 0.3.0
 * @category models
 */
export type RevokeOptions = TokenManagerRevocation.RevokeOptions

/**
 * The manager's settings: the token source, the expiry policy, background refresh, leases, retries and caching.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where new tokens come from, when the manager is built over a `TokenEndpoint`. Default: {@link refreshToken}. */
  readonly source?: TokenSource.Grant | undefined
  /** When a token enters its refresh window. Default: `Expiry.defaultPolicy`. */
  readonly policy?: Expiry.Policy | undefined
  /**
   * Refresh each held token in the background, ahead of its refresh instant by a random share of its
   * refresh window (up to `jitter`), so that callers never wait. One scheduler fiber serves every key.
   * Default: `false`.
   */
  readonly backgroundRefresh?: boolean | undefined
  /** The largest share of the refresh window by which a background refresh runs early. Default: 0.2. */
  readonly jitter?: number | undefined
  /** Background refreshes running at once, at most. Default: 16. */
  readonly backgroundConcurrency?: number | undefined
  /**
   * How long a refresh lease lives without renewal. The holder renews it every third of this while its
   * refresh runs, so a crashed holder's lease lapses after at most this long. Default: 30 seconds.
   */
  readonly leaseTtl?: Duration.DurationInput | undefined
  /** How long a caller with no valid token waits for another holder's lease (`LeaseTimeout`). Default: `leaseTtl` + 2 s. */
  readonly leaseWait?: Duration.DurationInput | undefined
  /**
   * How long a refresh keeps its callers waiting (lease held: the token endpoint's attempts, timeouts and
   * `Retry-After` waits, and the write). One the server has not answered by then is interrupted with
   * `RefreshTimeout`. An answer is never dropped: a refreshed ID token still being verified is waited for
   * (within the endpoint's timeout), and a write the store has not confirmed by then counts as a
   * failed one (the new token is served from memory and written in the background, the lease kept until
   * it is stored). Default: 90 seconds, room for the token endpoint's default retries.
   */
  readonly refreshTimeout?: Duration.DurationInput | undefined
  /**
   * How long the manager's end (its scope closing) waits for the refreshes under way and their writes: the
   * server may have rotated a refresh token it was sent, and a refreshed token not yet stored may be the only
   * copy of the new one. No refresh starts meanwhile; what still runs after it is interrupted, with an error
   * log naming the key. Default: 10 seconds.
   */
  readonly closeGrace?: Duration.DurationInput | undefined
  /** Backoff between failed refreshes: doubles from `initial` up to `max`. Default: 1 second to 1 minute. */
  readonly retryBackoff?: {
    readonly initial?: Duration.DurationInput | undefined
    readonly max?: Duration.DurationInput | undefined
  } | undefined
  /** The longest server `Retry-After` honoured between refreshes. Default: 5 minutes. */
  readonly maxRetryAfter?: Duration.DurationInput | undefined
  /**
   * Consecutive failures that retrying cannot fix (a misconfigured client, a malformed answer) after
   * which refreshing stops for the key until a new token is `set`. Default: 3.
   */
  readonly stopAfter?: number | undefined
  /** At most one 401-triggered refresh per key this long after the new token's issue (a quarter of its life at most). Default: 30 seconds. */
  readonly invalidationWindow?: Duration.DurationInput | undefined
  /** Per-key state unused this long (to the second) is released, with its background refresh. Default: 10 minutes. */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** How far ahead of its refresh token's expiry a key gets a `ReconnectSoon` event (at most half its lifetime). Default: 1 day. */
  readonly reconnectWarning?: Duration.DurationInput | undefined
  /** Events kept for a slow subscriber before the oldest are dropped. Default: 1024. */
  readonly eventCapacity?: number | undefined
  /** The `client` label of the metrics this manager records (see `Telemetry`). Default: `"default"`. */
  readonly clientLabel?: string | undefined
}

/**
 * Valid tokens on demand, per key, refreshed once per key however many callers ask.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenManager extends Context.Tag("@tokenfx/http/TokenManager")<TokenManager, {
  /**
   * A valid token for `key`. Refreshes (once, whoever asks) when the token is inside its refresh
   * window or was invalidated; fails only when no valid token can be had.
   */
  readonly get: (key: string) => Effect.Effect<Token.Token, GetError>
  /**
   * Stores a token obtained by a login, replacing whatever was stored (and resuming a stopped key). A
   * write the store has not answered within 10 seconds fails with a `TokenStoreError`. A failed write
   * may still land: the key's token is then forgotten, and the next `get` reads the store.
   */
  readonly set: (key: string, token: Token.Token) => Effect.Effect<void, TokenStore.StoreError>
  /**
   * Marks exactly this token as rejected (a 401). Answers whether retrying the request is worthwhile:
   * `true` when the next `get` refreshes or the token was already replaced, `false` when the token came
   * from a 401-triggered refresh within `invalidationWindow` (the resource rejects fresh tokens too).
   */
  readonly invalidate: (key: string, token: Token.Token) => Effect.Effect<boolean>
  /**
   * Disconnects a key: revokes its token at the server where the source can, and always removes it
   * locally, whatever the server said. Only a store failure is an error, a store call unanswered within
   * 10 seconds included: it is raised once the server was asked and the key forgotten in memory, and the
   * `Revoked` event still tells what the server did (when the removal failed, the token may still be
   * stored: revoke again). `options.reason` says why (the `Revoked` event, the `tokenfx_revocations`
   * metric and the span carry it).
   */
  readonly revoke: (key: string, options?: RevokeOptions) => Effect.Effect<Revocation, TokenStore.StoreError>
  /** Lifecycle events from the moment the stream is run. */
  readonly events: Stream.Stream<TokenManagerEvent.Event>
  /** A subscription to lifecycle events, open from the moment this effect completes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<TokenManagerEvent.Event>, never, Scope.Scope>
  /** The keys whose state is held in memory. */
  readonly keys: Effect.Effect<ReadonlyArray<string>>
}>() {}

const millis = (input: Duration.DurationInput | undefined, fallback: Duration.DurationInput): number =>
  Duration.toMillis(Duration.decode(input ?? fallback))

/**
 * A token manager over the `TokenStore` and `TokenSource` in context. Its fibers stop when the scope
 * closes, once the refreshes under way have stored their tokens (within `closeGrace`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWithSource: (
  options?: Options | undefined
) => Effect.Effect<TokenManager["Type"], never, TokenStore.TokenStore | TokenSource.TokenSource | Scope.Scope> = Effect
  .fnUntraced(function*(options?: Options | undefined) {
    const store = yield* TokenStore.TokenStore
    const source = yield* TokenSource.TokenSource
    const scope = yield* Effect.scope
    const timing: keyState.Timing = {
      policy: options?.policy ?? Expiry.defaultPolicy,
      requiresRefreshToken: source.requiresRefreshToken
    }
    const background = options?.backgroundRefresh === true
    const jitter = number.finiteOr(options?.jitter, 0.2, 0, 1)
    const leaseTtl = Duration.max(Duration.decode(options?.leaseTtl ?? Duration.seconds(30)), Duration.millis(3))
    const leaseWait = options?.leaseWait === undefined
      ? Duration.sum(leaseTtl, Duration.seconds(2))
      : Duration.decode(options.leaseWait)
    // At least a second, so that the sweeper never spins.
    const idleMillis = Math.max(1_000, millis(options?.idleTimeToLive, Duration.minutes(10)))
    const invalidationWindow = millis(options?.invalidationWindow, Duration.seconds(30))

    // The clock of the context the manager is made in (a TestClock in tests): read directly, so that
    // the hot path looks up no service and allocates nothing but the suspension.
    const clock = yield* Effect.clock
    const pubsub = yield* PubSub.sliding<TokenManagerEvent.Event>(
      Math.floor(number.finiteOr(options?.eventCapacity, 1024, 1))
    )
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))

    const background$ = background
      ? yield* backgroundRefresh.make({
        jitter,
        timing,
        concurrency: Math.floor(number.finiteOr(options?.backgroundConcurrency, 16, 1)),
        held: (state) => table.state(state.key) === state,
        refresh: (state, lead) => protocol.join(state, lead, true),
        scope
      })
      : undefined

    const metrics = managerMetrics.make(options?.clientLabel)
    const gauge = yield* tokensActive.make(metrics.client, timing, () => table.held())
    const warning = yield* reconnectSoon.make(millis(options?.reconnectWarning, Duration.days(1)), pubsub, metrics)
    const changed = (state: keyState.KeyState): Effect.Effect<void> => {
      gauge.follow(state)
      return background$ === undefined
        ? warning.watch(state)
        : Effect.zipRight(warning.watch(state), background$.follow(state))
    }

    // Made first, so that its end waits for the releases the shutdown's exchanges make.
    const lease = yield* leaseModule.make({ store, ttl: leaseTtl, wait: leaseWait, scope })
    const shutdown = yield* shutdownModule.make(scope, Duration.decode(options?.closeGrace ?? Duration.seconds(10)))
    const protocol = refreshModule.make({
      clock,
      store,
      source,
      lease,
      timing,
      shutdown,
      publish: (event) => PubSub.publish(pubsub, event),
      changed,
      refreshTimeout: Duration.decode(options?.refreshTimeout ?? Duration.seconds(90)),
      backoff: {
        initial: millis(options?.retryBackoff?.initial, Duration.seconds(1)),
        max: millis(options?.retryBackoff?.max, Duration.minutes(1))
      },
      maxRetryAfter: millis(options?.maxRetryAfter, Duration.minutes(5)),
      peekInterval: 1_000,
      stopAfter: Math.floor(number.finiteOr(options?.stopAfter, 3, 1)),
      busyRetry: 1_000,
      invalidationWindow,
      metrics
    })

    const table = keyTable.make(clock, (state) => protocol.join(state, 0, false))
    const { stateFor } = table

    // A write that failed may land all the same (its answer lost, or past its bound): the key's token is
    // forgotten, so that the next `get` reads the store instead of serving a token it may have replaced.
    const forget = (key: string) =>
      Effect.suspend(() => {
        const state = table.state(key)
        if (state === undefined) return Effect.void
        keyState.clear(state)
        return changed(state)
      })

    const set = (key: string, token: Token.Token): Effect.Effect<void, TokenStore.StoreError> =>
      Effect.gen(function*() {
        const entry = yield* within("set", key, attemptTimeout, store.set(key, token))
        const now = yield* Clock.currentTimeMillis
        yield* protocol.install(stateFor(key, now), entry)
      }).pipe(
        Effect.onError(() => forget(key)),
        Effect.withSpan("TokenManager.set", { attributes: { "tokenfx.key": key } })
      )

    const invalidate = (key: string, token: Token.Token): Effect.Effect<boolean> =>
      Effect.sync(() => {
        const now = clock.unsafeCurrentTimeMillis()
        return keyState.reject(stateFor(key, now), token, now)
      })

    const revoke = revokeModule.make({
      store,
      source,
      state: table.state,
      changed,
      publish: (event) => PubSub.publish(pubsub, event),
      metrics
    })

    // A released key leaves the gauge and the background queue with its state; its reconnect warning
    // still comes (an idle user is the one to warn), and nothing of it outlives its refresh token.
    const released = (state: keyState.KeyState): void => {
      gauge.drop(state)
      background$?.drop(state)
      warning.forget(state.key)
    }
    const sweep = Effect.map(Clock.currentTimeMillis, (now) => table.release(now, idleMillis, released))
    yield* Effect.sleep(Duration.millis(idleMillis)).pipe(Effect.zipRight(sweep), Effect.forever, Effect.forkScoped)

    // Promise callers read fresh tokens through `fastPath`, without a fiber.
    return fastPath.register(
      TokenManager.of({
        get: table.get,
        set,
        invalidate,
        revoke,
        events: Stream.fromPubSub(pubsub),
        subscribe: PubSub.subscribe(pubsub),
        keys: Effect.sync(table.keys)
      }),
      table.cached
    )
  })

/**
 * A token manager over the `TokenStore` and `TokenEndpoint` in context, renewing tokens with
 * `options.source` (the refresh token grant by default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options | undefined
): Effect.Effect<TokenManager["Type"], never, TokenStore.TokenStore | TokenEndpoint.TokenEndpoint | Scope.Scope> =>
  Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) =>
    makeWithSource(options).pipe(
      Effect.provideService(TokenSource.TokenSource, TokenSource.fromEndpoint(endpoint, options?.source))
    ))

/**
 * The `TokenManager` over the `TokenStore` and `TokenEndpoint` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options | undefined
): Layer.Layer<TokenManager, never, TokenStore.TokenStore | TokenEndpoint.TokenEndpoint> =>
  Layer.scoped(TokenManager, make(options))

/**
 * A token manager over the `TokenSource` in context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWithSource = (
  options?: Options | undefined
): Layer.Layer<TokenManager, never, TokenStore.TokenStore | TokenSource.TokenSource> =>
  Layer.scoped(TokenManager, makeWithSource(options))
