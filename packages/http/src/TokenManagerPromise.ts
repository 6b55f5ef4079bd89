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
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as destination from "./internal/destination.js"
import * as fastPath from "./internal/fastPath.js"
import * as scrub from "./internal/scrub.js"
import * as TokenManager from "./TokenManager.js"

/**
 * A token manager for Promise-based callers: cached tokens without a fiber, the runtime only to refresh.
 *
 * @since 0.2.0
 * @category models
 */
export interface TokenManagerPromise {
  /** A valid token for `key`; rejects with a `TokenManager.GetError`. */
  readonly getToken: (key: string) => Promise<Token.Token>
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
}

/**
 * `fetch`, authorized. Rejects with `TransportError` (another origin, plain HTTP to a non-loopback
 * address, a connection failure), `InvalidToken` (a 401 again after one refresh, or a 401 that cannot
 * be retried), `InsufficientScope` (a 403 naming it), or a `TokenManager.GetError`. Redirects are
 * answered as they are (`redirect: "manual"`): follow them yourself, each hop checked again.
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
  const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
    runExit(effect).then((exit) => Exit.isSuccess(exit) ? exit.value : Promise.reject(toError(exit.cause)))

  const getToken = (key: string): Promise<Token.Token> => {
    const token = peek?.(key)
    return token === undefined ? run(manager.get(key)) : Promise.resolve(token)
  }
  const invalidate = (key: string, token: Token.Token): Promise<boolean> => run(manager.invalidate(key, token))

  const authorizedFetch = (options: FetchOptions): AuthorizedFetch => {
    const origin = destination.parseOrigin(options.origin)
    const fetch = options.fetch ?? globalThis.fetch
    return async (input, init) => {
      // One parse of the URL, for the origin check; refused before a token is asked for.
      const url = input instanceof Request ? input.url : input
      const target = checkTarget(url, origin)
      if (target !== undefined) throw target
      const token = await getToken(options.key)
      const response = await send(fetch, input, init, token)
      if (response.status !== 401) return checkScope(response, token)
      await discard(response)
      if (!(await invalidate(options.key, token))) {
        throw invalidToken(response, token, "not retried: a fresh token was rejected moments ago")
      }
      if (!replayable(input, init)) throw invalidToken(response, token, "not retried: the request body is a stream")
      const fresh = await getToken(options.key)
      const retried = await send(fetch, input, init, fresh)
      if (retried.status === 401) {
        await discard(retried)
        throw invalidToken(retried, fresh)
      }
      return checkScope(retried, fresh)
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
  url: string | URL,
  origin: Either.Either<URL, OAuthError.TransportError>
): OAuthError.TransportError | undefined => {
  if (Either.isLeft(origin)) return origin.left
  const text = url.toString()
  if (!URL.canParse(text)) {
    return new OAuthError.TransportError({ reason: "Insecure", description: "the request URL is not absolute" })
  }
  const target = url instanceof URL ? url : new URL(text)
  if (target.origin !== origin.right.origin) {
    return new OAuthError.TransportError({
      reason: "Insecure",
      description: `refusing to send the token for ${origin.right.origin} to another origin`,
      endpoint: destination.label(target)
    })
  }
  if (!destination.isSecure(target)) {
    return new OAuthError.TransportError({
      reason: "Insecure",
      description: "refusing to send a token over plain HTTP to a non-loopback address",
      endpoint: destination.label(target)
    })
  }
  return undefined
}

const scheme = (token: Token.Token): string => token.tokenType === "DPoP" ? "DPoP" : "Bearer"

// The caller's headers with the token's: a plain record is copied (cheaper than `Headers`), any
// `authorization` of the caller's replaced.
const withToken = (headers: HeadersInit | undefined, token: Token.Token): HeadersInit => {
  // The one place the access token is unwrapped: the wire.
  const authorization = `${scheme(token)} ${Redacted.value(token.accessToken)}`
  if (headers === undefined) return { authorization }
  if (headers instanceof Headers || Array.isArray(headers)) {
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

const send = async (
  fetch: typeof globalThis.fetch,
  input: string | URL | Request,
  init: RequestInit | undefined,
  token: Token.Token
): Promise<Response> => {
  // A DPoP-bound token is useless without its proof, which this `fetch` does not make.
  if (token.tokenType === "DPoP") {
    throw new OAuthError.TransportError({
      reason: "Insecure",
      description: "the token is DPoP-bound and authorizedFetch makes no DPoP proof: use AuthorizedClient",
      endpoint: destination.labelOf(input instanceof Request ? input.url : input.toString())
    })
  }
  const headers = withToken(init?.headers ?? (input instanceof Request ? input.headers : undefined), token)
  try {
    return await fetch(input, { ...init, headers, redirect: "manual" })
  } catch (cause) {
    // An abort is the caller's own: it is answered as it is.
    if (init?.signal?.aborted === true) throw cause
    throw new OAuthError.TransportError({
      reason: "Connection",
      description: "the request could not be sent",
      endpoint: destination.labelOf(input instanceof Request ? input.url : input.toString()),
      cause
    })
  }
}

// An answer the caller will not see: its body is dropped so that the connection is released.
const discard = (response: Response): Promise<void> =>
  response.body === null ? Promise.resolve() : response.body.cancel().catch(() => {})

// A body that can be sent twice: none, or one held in memory.
const replayable = (input: string | URL | Request, init: RequestInit | undefined): boolean => {
  if (init?.body !== undefined && init.body !== null) return !(init.body instanceof ReadableStream)
  return !(input instanceof Request && input.body !== null)
}

const challenges = (response: Response): ReadonlyArray<OAuthError.Challenge> => {
  const header = response.headers.get("www-authenticate")
  return header === null ? [] : OAuthError.parseWwwAuthenticate(header)
}

const invalidToken = (response: Response, token: Token.Token, note?: string): OAuthError.InvalidToken => {
  const all = challenges(response)
  const challenge = all.find((c) => c.scheme.toLowerCase() === scheme(token).toLowerCase()) ?? all[0]
  const description = challenge?.params["error_description"]
  return scrub.scrub(
    new OAuthError.InvalidToken({
      status: response.status,
      endpoint: destination.labelOf(response.url),
      description: note === undefined ? description : description === undefined ? note : `${description}; ${note}`,
      uri: challenge?.params["error_uri"],
      challenge: challenge?.params
    }),
    scrub.needles([token.accessToken])
  )
}

// A 403 naming `insufficient_scope` is a typed error; any other answer is the caller's.
const checkScope = (response: Response, token: Token.Token): Response => {
  if (response.status !== 403) return response
  const challenge = challenges(response).find((c) => c.params["error"] === "insufficient_scope")
  if (challenge === undefined) return response
  void discard(response)
  throw scrub.scrub(
    new OAuthError.InsufficientScope({
      status: 403,
      endpoint: destination.labelOf(response.url),
      description: challenge.params["error_description"],
      uri: challenge.params["error_uri"],
      scope: challenge.params["scope"]
    }),
    scrub.needles([token.accessToken])
  )
}
