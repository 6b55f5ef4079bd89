/**
 * The state a `TokenManager` keeps per key, and its transitions. Data and functions of `now`: no
 * effects run here, so that every rule about what `get` serves can be read (and tested) in one place.
 * The state is also its key's `get` effect, whose `commit` the key table supplies (see `keyTable`):
 * one object per key rather than two, and the hot path reads nothing else of the key's.
 */
import type * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as TokenHealth from "@tokenfx/core/TokenHealth"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as DateTime from "effect/DateTime"
import type * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Exit from "effect/Exit"
import type { TokenState } from "../Telemetry.js"
import type { GetError, RefreshError } from "../TokenManagerError.js"

/**
 * What a key seldom has, in an object of its own made when first set: most keys never need it, and the
 * state of each of 100,000 keys is smaller by its eight fields.
 */
interface Rare {
  rejected: Token.Token | undefined
  replacement: Token.Token | undefined
  replacementUntil: number
  persisting: Deferred.Deferred<void> | undefined
  failures: number
  failure: Failure | undefined
  stopped: RefreshError | undefined
  dead: boolean
}

/** The smallest `until`: `get` always looks further. @internal */
export const never = -(2 ** 30)

/**
 * The fields the hot path reads come first, in the object's first cache line: `until` and `used` are
 * whole seconds from the table's origin, small integers that V8 keeps inside the object, where
 * milliseconds would each be a number boxed apart (with 100,000 keys every object read is a cache
 * miss). `until` is never after `refreshAt` (rounded down), and every transition below that moves
 * `refreshAt` or `result` resets it: the next `get` takes the exact path and sets it again.
 *
 * @internal
 */
export abstract class KeyState extends Effectable.Class<Token.Token, GetError> {
  /** Until when `get` answers `result` without looking further; {@link never} when it must look. */
  until = never
  /** When the key was last asked for. */
  used = 0
  /** What the hot path answers: the token, ready-made. */
  result: Effect.Effect<Token.Token> | undefined = undefined
  /** The best known token and its store version (`0`: held only in memory). */
  token: Token.Token | undefined = undefined
  version = 0
  /** When `get` must leave the hot path: the refresh instant, a backoff deadline, or -Infinity once rejected. */
  refreshAt = -Infinity
  /** When the token stops being served at all. */
  expiredAt = -Infinity
  /** The refresh (or store read) in flight, awaited by every caller of the key. */
  flight: Deferred.Deferred<Token.Token, GetError> | undefined = undefined
  /** The state under which the key is counted in `tokenfx_tokens_active`, if it is. */
  counted: TokenState | undefined = undefined
  /** When `counted` next changes with time alone, and the key's place in the heap of those (`-1`: none). */
  transitionAt = Infinity
  transitionSlot = -1
  #rare: Rare | undefined = undefined
  constructor(readonly key: string) {
    super()
  }

  #some(): Rare {
    return this.#rare ??= {
      rejected: undefined,
      replacement: undefined,
      replacementUntil: -Infinity,
      persisting: undefined,
      failures: 0,
      failure: undefined,
      stopped: undefined,
      dead: false
    }
  }

  /** The one notion of "rejected": the access token a resource answered 401 to. Never served again. */
  get rejected(): Token.Token | undefined {
    return this.#rare?.rejected
  }
  set rejected(value: Token.Token | undefined) {
    if (value !== undefined || this.#rare !== undefined) this.#some().rejected = value
  }
  /** The token a 401-triggered refresh produced, and until when a 401 on it is answered without another. */
  get replacement(): Token.Token | undefined {
    return this.#rare?.replacement
  }
  set replacement(value: Token.Token | undefined) {
    if (value !== undefined || this.#rare !== undefined) this.#some().replacement = value
  }
  get replacementUntil(): number {
    return this.#rare?.replacementUntil ?? -Infinity
  }
  set replacementUntil(value: number) {
    if (value !== -Infinity || this.#rare !== undefined) this.#some().replacementUntil = value
  }
  /** A refreshed token whose write to the store is still being retried. */
  get persisting(): Deferred.Deferred<void> | undefined {
    return this.#rare?.persisting
  }
  set persisting(value: Deferred.Deferred<void> | undefined) {
    if (value !== undefined || this.#rare !== undefined) this.#some().persisting = value
  }
  /** Consecutive failed refreshes. */
  get failures(): number {
    return this.#rare?.failures ?? 0
  }
  set failures(value: number) {
    if (value !== 0 || this.#rare !== undefined) this.#some().failures = value
  }
  /** The last failure, answered to callers with no valid token until `until`. */
  get failure(): Failure | undefined {
    return this.#rare?.failure
  }
  set failure(value: Failure | undefined) {
    if (value !== undefined || this.#rare !== undefined) this.#some().failure = value
  }
  /** Failures retrying cannot fix repeated: no refresh until a new token is set. */
  get stopped(): RefreshError | undefined {
    return this.#rare?.stopped
  }
  set stopped(value: RefreshError | undefined) {
    if (value !== undefined || this.#rare !== undefined) this.#some().stopped = value
  }
  /** Its grant died (`ReconnectRequired`): a `dead` key until a token is installed or it is revoked. */
  get dead(): boolean {
    return this.#rare?.dead ?? false
  }
  set dead(value: boolean) {
    if (value || this.#rare !== undefined) this.#some().dead = value
  }
}

// Moves `refreshAt` or `result`: the hot path must look again.
const stale = (state: KeyState): void => {
  state.until = never
}

/** @internal */
export interface Failure {
  readonly error: RefreshError
  readonly until: number
  /** Before this instant the store is not read again for a sibling's token. */
  nextPeek: number
}

/** @internal */
export interface Timing {
  readonly policy: Expiry.Policy
  /** The source cannot renew a token that has no refresh token: such a token is used until it expires. */
  readonly requiresRefreshToken: boolean
}

/** @internal */
export const expiredAt = (token: Token.Token, timing: Timing): number => TokenHealth.expiredAtMillis(token, timing)

/** When the refresh token stops working (`refresh_token_expires_in`), or `Infinity`. @internal */
export const refreshTokenExpiredAt = (token: Token.Token): number =>
  token.refreshTokenExpiresAt === undefined ? Infinity : DateTime.toEpochMillis(token.refreshTokenExpiresAt)

/**
 * When the token is due for a refresh: `TokenHealth`'s rule, the one `tokenfx status` and the stores
 * classify by. A refresh token dead by the refresh instant cannot refresh: the token is served until it
 * expires.
 *
 * @internal
 */
export const dueAt = (token: Token.Token, timing: Timing): number => TokenHealth.refreshDueAtMillis(token, timing)

/** @internal */
export const isRejected = (state: KeyState, token: Token.Token): boolean =>
  state.rejected !== undefined && Token.sameAccessToken(token, state.rejected)

/** Whether `token` can be served `lead` milliseconds from `now` without a refresh. @internal */
export const isFresh = (state: KeyState, token: Token.Token, now: number, timing: Timing): boolean =>
  now < dueAt(token, timing) && !isRejected(state, token)

/** Whether the held token may still be served (expired or rejected tokens never are). @internal */
export const isValid = (state: KeyState, now: number): boolean =>
  state.token !== undefined && now < state.expiredAt && !isRejected(state, state.token)

/** Holds a token from the store (or a refresh) as the best known one: every failure is forgotten. @internal */
export const install = (state: KeyState, entry: TokenStore.Entry, timing: Timing): void => {
  const token = entry.token
  state.token = token
  state.version = entry.version
  state.refreshAt = dueAt(token, timing)
  state.expiredAt = expiredAt(token, timing)
  state.result = Exit.succeed(token)
  state.failures = 0
  state.failure = undefined
  state.stopped = undefined
  state.dead = false
  if (state.rejected !== undefined && !Token.sameAccessToken(token, state.rejected)) state.rejected = undefined
  if (isRejected(state, token)) state.refreshAt = -Infinity
  stale(state)
}

/** Forgets the token (removed, revoked, or its grant dead: the caller then sets `dead`). @internal */
export const clear = (state: KeyState): void => {
  state.token = undefined
  state.version = 0
  state.refreshAt = -Infinity
  state.expiredAt = -Infinity
  state.result = undefined
  state.failures = 0
  state.failure = undefined
  state.stopped = undefined
  stale(state)
}

// "Moments ago" for a token: the window, but never more than a quarter of its lifetime, so that
// short-lived tokens a server retires early (whole-second lifetimes lose up to a second) still get
// their one refresh each.
const coalescing = (token: Token.Token, window: number): number => {
  if (token.expiresAt === undefined) return window
  const lifetime = DateTime.toEpochMillis(token.expiresAt) - DateTime.toEpochMillis(token.issuedAt)
  return Math.min(window, Math.max(0, lifetime / 4))
}

/**
 * Marks exactly `token` as rejected. Answers whether retrying with the next token is worthwhile: yes
 * when the token was already replaced or its refresh is under way; no when `token` itself came from a
 * 401-triggered refresh moments ago (the resource rejects fresh tokens too, and refreshing again would
 * only rotate the grant for nothing).
 *
 * @internal
 */
export const reject = (state: KeyState, token: Token.Token, now: number): boolean => {
  // Replaced already, or rejected already with its refresh under way: retrying gets the new token.
  if (state.token !== undefined && !Token.sameAccessToken(state.token, token)) return true
  if (isRejected(state, token)) return true
  const replacement = state.replacement
  if (replacement !== undefined && Token.sameAccessToken(token, replacement) && now < state.replacementUntil) {
    return false
  }
  state.rejected = token
  state.refreshAt = -Infinity
  stale(state)
  return true
}

/**
 * Records that `token` was just obtained by a refresh a 401 triggered: a 401 on it within the window
 * (at most a quarter of its lifetime) is answered without another refresh. Counted from its issue, not
 * from when its write was confirmed: a slow store must not stretch "fresh" over a short-lived token
 * the server has retired meanwhile.
 *
 * @internal
 */
export const replaced = (state: KeyState, token: Token.Token, window: number): void => {
  state.replacement = token
  state.replacementUntil = DateTime.toEpochMillis(token.issuedAt) + coalescing(token, window)
}

/** @internal */
export interface Backoff {
  readonly initial: number
  readonly max: number
}

/**
 * Records a failed refresh and answers when to try again: doubling from `initial` to `max`, never
 * sooner than the server asked (`retryAfter`, already capped by the caller). While the held token is
 * valid the hot path keeps serving it until then.
 *
 * @internal
 */
export const fail = (
  state: KeyState,
  error: RefreshError,
  now: number,
  backoff: Backoff,
  retryAfter: number,
  peekInterval: number
): number => {
  state.failures += 1
  const wait = Math.min(backoff.max, backoff.initial * 2 ** Math.min(30, state.failures - 1))
  const retryAt = now + Math.max(wait, retryAfter)
  if (isValid(state, now)) {
    state.refreshAt = Math.min(retryAt, state.expiredAt)
    state.failure = undefined
  } else {
    state.failure = { error, until: retryAt, nextPeek: now + peekInterval }
  }
  stale(state)
  return retryAt
}

/** Keeps serving the valid token until `until` (the lease is busy: a sibling is refreshing). @internal */
export const defer = (state: KeyState, until: number): void => {
  state.refreshAt = Math.min(until, state.expiredAt)
  stale(state)
}

/** Stops refreshing after failures that retrying cannot fix; a valid token is served until it expires. @internal */
export const stop = (state: KeyState, error: RefreshError, now: number): void => {
  state.stopped = error
  state.failure = undefined
  if (isValid(state, now)) state.refreshAt = state.expiredAt
  stale(state)
}

/**
 * What `get` does off the hot path: serve, fail at once, look at the store for a sibling's token, or
 * refresh.
 *
 * @internal
 */
export type Decision =
  | { readonly _tag: "Serve"; readonly result: Effect.Effect<Token.Token> }
  | { readonly _tag: "Fail"; readonly error: RefreshError }
  | { readonly _tag: "Peek" }
  | { readonly _tag: "Refresh" }

const refresh: Decision = { _tag: "Refresh" }
const peek: Decision = { _tag: "Peek" }

/**
 * `lead`: how far ahead of `now` the token must stay fresh (a background refresh runs early).
 *
 * @internal
 */
export const decide = (state: KeyState, now: number, lead: number): Decision => {
  const result = state.result
  if (result !== undefined && now + lead < state.refreshAt) return { _tag: "Serve", result }
  const valid = result !== undefined && isValid(state, now)
  if (state.stopped !== undefined) {
    return valid ? { _tag: "Serve", result } : { _tag: "Fail", error: state.stopped }
  }
  const failure = state.failure
  if (failure !== undefined && now < failure.until && !valid) {
    return now < failure.nextPeek ? { _tag: "Fail", error: failure.error } : peek
  }
  return refresh
}

/**
 * The `tokenfx_tokens_active` state of a key at `now`, by its held token's own instants (not by a
 * backoff or deferral): `undefined` for a key holding nothing that is not dead.
 *
 * @internal
 */
export const classify = (state: KeyState, now: number, timing: Timing): TokenState | undefined => {
  const token = state.token
  if (token === undefined) return state.dead ? "dead" : undefined
  // Held past its expiry (a refresh failing, or one about to find the grant dead): `expired` until the
  // manager knows; the grant is `dead` once the server refused it.
  if (now >= state.expiredAt) return "expired"
  return TokenHealth.classify(token, now, timing)
}

/** When {@link classify} next changes on its own (time passing), or `Infinity`. @internal */
export const nextTransition = (state: KeyState, now: number, timing: Timing): number => {
  const token = state.token
  if (token === undefined || now >= state.expiredAt) return Infinity
  const due = dueAt(token, timing)
  return now < due ? due : state.expiredAt
}
