/**
 * A `TokenManager` for code outside Effect: an Express handler, a queue worker, an SDK that takes a
 * `fetch`. `getToken` answers a cached, fresh token without starting a fiber (a memory read and one
 * comparison with the manager's clock) and enters the runtime only to refresh, so that single flight,
 * rotation and the lease hold exactly as for `TokenManager.get`. `authorizedFetch` is a `fetch` that
 * sends the token to its origin only, never follows a redirect, and retries once after a 401.
 *
 * Promises reject with the manager's typed errors themselves: every one is an `Error` subclass
 * carrying its `_tag` (`ReconnectRequired`, `InvalidToken`, `TransportError`, ...), so that
 * `error instanceof OAuthError.ReconnectRequired` and `switch (error._tag)` both work.
 *
 * @since 0.2.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as WwwAuthenticate from "@tokenfx/core/WwwAuthenticate"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as destination from "./internal/destination.js"
import * as fastPath from "./internal/fastPath.js"
import * as resourceErrors from "./internal/resourceErrors.js"
import * as scrub from "./internal/scrub.js"
import * as Telemetry from "./Telemetry.js"
import * as TokenManager from "./TokenManager.js"

/**
 * A token manager for Promise-based callers: cached tokens without a fiber, the runtime only to refresh.
 *
 * @since 0.2.0
 * @category models
 */
export interface TokenManagerPromise {
  /**
   * A valid token for `key`; rejects with a `TokenManager.GetError`. An abort of `options.signal`
   * (before the call included, a token cached or not) rejects with its reason at once; a refresh
   * under way goes on for the key's other callers.
   */
  readonly getToken: (key: string, options?: { readonly signal?: AbortSignal | undefined }) => Promise<Token.Token>
  /** Marks exactly this token as rejected (a 401): see `TokenManager.invalidate`. */
  readonly invalidate: (key: string, token: Token.Token) => Promise<boolean>
  /** A `fetch` that authorizes its requests with the token of `options.key`. */
  readonly authorizedFetch: (options: FetchOptions) => AuthorizedFetch
}

/**
 * What `authorizedFetch` sends: the key whose token is used, the one origin it goes to, and the fetch to use.
 *
 * @since 0.2.0
 * @category models
 */
export interface FetchOptions {
  /** The `TokenManager` key whose token is sent. */
  readonly key: string
  /** The only origin (scheme, host and port) the token is sent to, e.g. `https://api.example.com`. */
  readonly origin: string | URL
  /** The `fetch` beneath. Default: `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch | undefined
  /** The `client` label of `tokenfx_resource_responses` (see `Telemetry`). Default: `"default"`. */
  readonly clientLabel?: string | undefined
}

/**
 * `fetch`, authorized. Rejects with `TransportError` (another origin, plain HTTP to a non-loopback
 * address, a connection failure), `InvalidToken` (a 401 again after one refresh, or a 401 that cannot
 * be retried), `InsufficientScope` (a 403 or 401 naming it), `InsufficientClaims` (a 401 claims challenge,
 * never retried: a refresh cannot satisfy it), or a `TokenManager.GetError`. Redirects are
 * answered as they are (`redirect: "manual"`): follow them yourself, each hop checked again. As with
 * `fetch`, an abort of the request's signal (`init.signal`, else the `Request`'s) rejects with its
 * reason, a wait for a refreshing token included; and as with `fetch`, there is no timeout but that
 * signal (`AbortSignal.timeout(ms)`) for a resource that never answers.
 *
 * @since 0.2.0
 * @category models
 */
export type AuthorizedFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

// A failure as a Promise caller sees it: the typed error itself (an `Error` carrying its `_tag`);
// a defect or an interruption as the `Error` it is, or one that says what it was.
const toError = (cause: Cause.Cause<unknown>): unknown => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") return failure.value
  const squashed = Cause.squash(cause)
  return squashed instanceof Error ? squashed : new Error(Cause.pretty(cause))
}

/**
 * The facade over the `TokenManager` of `runtime`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromRuntime = <R extends TokenManager.TokenManager>(runtime: Runtime.Runtime<R>): TokenManagerPromise => {
  const manager = Context.get(runtime.context as Context.Context<TokenManager.TokenManager>, TokenManager.TokenManager)
  const peek = fastPath.of(manager)
  const runExit = Runtime.runPromiseExit(runtime)
  // An abort interrupts only this caller's fiber: a refresh it waits for is the key's, and goes on.
  const run = <A, E>(effect: Effect.Effect<A, E>, signal?: AbortSignal | undefined): Promise<A> => {
    if (signal?.aborted === true) return Promise.reject(signal.reason)
    return runExit(effect, signal === undefined ? undefined : { signal }).then((exit) =>
      Exit.isSuccess(exit)
        ? exit.value
        : Promise.reject(signal?.aborted === true ? signal.reason : toError(exit.cause))
    )
  }

  const getToken = (key: string, options?: { readonly signal?: AbortSignal | undefined }): Promise<Token.Token> => {
    // As every API that takes a signal: one aborted already rejects, whether a token is cached or not.
    if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason)
    const token = peek?.(key)
    return token === undefined ? run(manager.get(key), options?.signal) : Promise.resolve(token)
  }
  const invalidate = (key: string, token: Token.Token): Promise<boolean> => run(manager.invalidate(key, token))

  const authorizedFetch = (options: FetchOptions): AuthorizedFetch => {
    const origin = destination.parseOrigin(options.origin)
    const fetch = options.fetch ?? globalThis.fetch
    const client = Telemetry.clientLabel(options.clientLabel)
    const rejections = (status: string) =>
      Metric.taggedWithLabels(Telemetry.resourceResponses, [client, MetricLabel.make("status", status)])
    const unauthorized = rejections("401")
    const forbidden = rejections("403")
    // As `AuthorizedClient`: every 401 and 403, the retried request's included.
    const seen = (response: Response): Response => {
      if (response.status === 401) unauthorized.unsafeUpdate(1, [])
      else if (response.status === 403) forbidden.unsafeUpdate(1, [])
      return response
    }
    // The last URL text let through: the verdict depends on the text alone, so a loop of requests to
    // one URL parses it once.
    let allowedUrl: string | undefined
    return async (input, init) => {
      // A `URL` object is read once, here, and its text sent: changed in place while a token is
      // awaited (the caller's loop reusing it), it must not take the token to where it points then.
      const target = input instanceof Request ? input : String(input)
      const url = typeof target === "string" ? target : target.url
      // Refused before a token is asked for.
      if (url !== allowedUrl) {
        const refused = checkTarget(url, origin)
        if (refused !== undefined) throw refused
        allowedUrl = url
      }
      const signal = signalOf(input, init)
      // A cached token is taken as it is: no Promise of it to wait for.
      const token = peek?.(options.key) ?? await run(manager.get(options.key), signal)
      const response = seen(await send(fetch, target, init, token, signal))
      if (response.status !== 401) return checkScope(response, url, token)
      await discard(response)
      checkClaims(response, url, token)
      if (!(await invalidate(options.key, token))) {
        throw invalidToken(response, url, token, "not retried: a fresh token was rejected moments ago")
      }
      if (!replayable(target, init)) {
        throw invalidToken(response, url, token, "not retried: the request body is a stream")
      }
      const fresh = await getToken(options.key, { signal })
      const retried = seen(await send(fetch, target, init, fresh, signal))
      if (retried.status === 401) {
        await discard(retried)
        checkClaims(retried, url, fresh)
        throw invalidToken(retried, url, fresh)
      }
      return checkScope(retried, url, fresh)
    }
  }

  return { getToken, invalidate, authorizedFetch }
}

/**
 * The facade over the `TokenManager` in context, run by the current runtime: with a
 * `ManagedRuntime`, `const tokens = await runtime.runPromise(TokenManagerPromise.make)`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: Effect.Effect<TokenManagerPromise, never, TokenManager.TokenManager> = Effect.map(
  Effect.runtime<TokenManager.TokenManager>(),
  fromRuntime
)

const checkTarget = (
  url: string,
  origin: Either.Either<URL, OAuthError.TransportError>
): OAuthError.TransportError | undefined => {
  if (Either.isLeft(origin)) return origin.left
  // One parse (`URL.parse` is Node 22 and later).
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return destination.notAbsolute()
  }
  return destination.refuse(parsed, origin.right)
}

// The caller's headers with the token's: a plain record is copied (cheaper than `Headers`), any
// `authorization` of the caller's replaced. Anything iterable is read as `fetch` reads it, as pairs:
// a `Headers` of another implementation (the `undici` package's, node-fetch's) is no record, and its
// enumerable methods are no headers.
const withToken = (headers: HeadersInit | undefined, token: Token.Token): HeadersInit => {
  // The one place the access token is unwrapped: the wire.
  const authorization = `${resourceErrors.scheme(token)} ${Redacted.value(token.accessToken)}`
  if (headers === undefined) return { authorization }
  if (headers instanceof Headers || Symbol.iterator in headers) {
    const copy = new Headers(headers)
    copy.set("authorization", authorization)
    return copy
  }
  const copy: Record<string, string> = {}
  for (const name in headers) {
    if (name.toLowerCase() !== "authorization") copy[name] = headers[name]!
  }
  copy.authorization = authorization
  return copy
}

// The signal `fetch` itself would obey: the one in `init`, else the `Request`'s own. `signal: null`
// in `init` is none at all (it lets go of the `Request`'s), as `fetch` reads it.
const signalOf = (input: string | URL | Request, init: RequestInit | undefined): AbortSignal | undefined =>
  init?.signal !== undefined ? init.signal ?? undefined : input instanceof Request ? input.signal : undefined

// Tokens found fit for a header, each judged once: a long JWT is not scanned again per request.
const judged = new WeakSet<Token.Token>()

// A bearer credential is visible ASCII (RFC 6750's b64token is a subset). Anything else the server
// that issued it gets wrong, and `fetch` would reject the header with the token in its message, trim
// it silently, or (CR LF) let it split into headers of the token's choosing.
const sendable = (token: Token.Token): boolean => {
  if (judged.has(token)) return true
  if (!/^[\x21-\x7e]+$/.test(Redacted.value(token.accessToken))) return false
  judged.add(token)
  return true
}

const send = async (
  fetch: typeof globalThis.fetch,
  input: string | Request,
  init: RequestInit | undefined,
  token: Token.Token,
  signal: AbortSignal | undefined
): Promise<Response> => {
  // A DPoP-bound token is useless without its proof, which this `fetch` does not make.
  if (token.tokenType === "DPoP") {
    throw new OAuthError.TransportError({
      reason: "Insecure",
      description: "the token is DPoP-bound and authorizedFetch makes no DPoP proof: use AuthorizedClient",
      endpoint: destination.labelOf(input instanceof Request ? input.url : input)
    })
  }
  if (!sendable(token)) {
    throw new OAuthError.TransportError({
      reason: "Insecure",
      description: "the access token holds characters a bearer credential cannot (a space, a line break, a control " +
        "or non-ASCII character): it was not sent",
      endpoint: destination.labelOf(input instanceof Request ? input.url : input)
    })
  }
  const headers = withToken(init?.headers ?? (input instanceof Request ? input.headers : undefined), token)
  try {
    return await fetch(input, { ...init, headers, redirect: "manual" })
  } catch (cause) {
    // An abort is the caller's own: it is answered as it is.
    if (signal?.aborted === true) throw cause
    throw new OAuthError.TransportError({
      reason: "Connection",
      description: "the request could not be sent",
      endpoint: destination.labelOf(input instanceof Request ? input.url : input),
      cause: scrub.scrubCause(cause, scrub.needles([token.accessToken]))
    })
  }
}

// An answer the caller will not see: its body is dropped so that the connection is released.
const discard = (response: Response): Promise<void> =>
  response.body === null ? Promise.resolve() : response.body.cancel().catch(() => {})

// A body that can be sent twice: none, or one held in memory. Anything else is read once: a
// `ReadableStream`, or an async iterable (a Node stream, a generator) that `fetch` also takes and
// that would be sent empty, or half, the second time.
const replayable = (input: string | Request, init: RequestInit | undefined): boolean => {
  if (init?.body !== undefined && init.body !== null) return inMemory(init.body)
  return !(input instanceof Request && input.body !== null)
}

const inMemory = (body: BodyInit): boolean =>
  typeof body === "string" || body instanceof URLSearchParams || body instanceof Blob ||
  body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof FormData

const challenges = (response: Response): ReadonlyArray<WwwAuthenticate.Challenge> => {
  const header = response.headers.get("www-authenticate")
  return header === null ? [] : WwwAuthenticate.parse(header)
}

// Errors name the URL requested: redirects are not followed, so it is the one that answered, and a
// `Response` made by the `fetch` beneath (a wrapper, a mock) has no `url` of its own.

// A claims challenge, or a 401 naming a missing scope, asks for a new authorization, which a refresh
// is not: it is thrown as it is.
const checkClaims = (response: Response, url: string, token: Token.Token): void => {
  const endpoint = destination.labelOf(url)
  const found = challenges(response)
  const error = resourceErrors.insufficientClaims(found, response.status, endpoint, token) ??
    resourceErrors.insufficientScope(found, response.status, endpoint, token)
  if (error !== undefined) throw error
}

const invalidToken = (response: Response, url: string, token: Token.Token, note?: string): OAuthError.InvalidToken =>
  resourceErrors.invalidToken(challenges(response), response.status, destination.labelOf(url), token, note)

const checkScope = (response: Response, url: string, token: Token.Token): Response => {
  if (response.status !== 403) return response
  const error = resourceErrors.insufficientScope(challenges(response), 403, destination.labelOf(url), token)
  if (error === undefined) return response
  void discard(response)
  throw error
}
