import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"

// Where a credential (a client secret, a grant, a bearer token) may be sent: over HTTPS, or plain
// HTTP to a loopback address where nothing crosses a network, and never on through a redirect that
// nobody checked.

/**
 * Whether a URL's hostname is loopback: `127.0.0.0/8`, `::1`, or exactly `localhost`. Other names
 * under `.localhost` are not, since a resolver may answer them from the network.
 *
 * @internal
 */
export const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * HTTPS, or plain HTTP to loopback (or anywhere when `allowInsecure`, for tests against a container).
 *
 * @internal
 */
export const isSecure = (url: URL, allowInsecure = false): boolean =>
  url.protocol === "https:" || (url.protocol === "http:" && (allowInsecure || isLoopback(url.hostname)))

/**
 * Where a request goes, for errors: origin and path, never the query.
 *
 * @internal
 */
export const label = (url: URL): string => `${url.origin}${url.pathname}`

/**
 * The label of a URL given as text; text that is not a URL is kept as it is.
 *
 * @internal
 */
export const labelOf = (url: string): string => URL.canParse(url) ? label(new URL(url)) : url

/**
 * The host (and port) of a URL given as text, for spans.
 *
 * @internal
 */
export const hostOf = (url: string): string | undefined => URL.canParse(url) ? new URL(url).host : undefined

/**
 * Parses an authorization server's endpoint, refusing one that is not {@link isSecure}.
 *
 * @internal
 */
export const checkEndpoint = (url: string, allowInsecure: boolean): Either.Either<URL, OAuthError.TransportError> => {
  if (!URL.canParse(url)) {
    return Either.left(
      new OAuthError.TransportError({ reason: "Insecure", description: "the endpoint is not an absolute URL" })
    )
  }
  const parsed = new URL(url)
  if (isSecure(parsed, allowInsecure)) return Either.right(parsed)
  return Either.left(
    new OAuthError.TransportError({
      reason: "Insecure",
      description: "refusing to send credentials over plain HTTP to a non-loopback address",
      endpoint: label(parsed)
    })
  )
}

/**
 * The origin a bearer token is for, or why it cannot be one.
 *
 * @internal
 */
export const parseOrigin = (origin: string | URL): Either.Either<URL, OAuthError.TransportError> => {
  const text = origin.toString()
  if (!URL.canParse(text)) {
    return Either.left(
      new OAuthError.TransportError({ reason: "Insecure", description: "the token's origin is not an absolute URL" })
    )
  }
  return Either.right(new URL(new URL(text).origin))
}

/**
 * Lets a bearer token go only to its own origin, and only if that is {@link isSecure}.
 *
 * @internal
 */
export const checkTarget = (
  request: HttpClientRequest.HttpClientRequest,
  origin: Either.Either<URL, OAuthError.TransportError>
): Either.Either<HttpClientRequest.HttpClientRequest, OAuthError.TransportError> =>
  Either.flatMap(origin, (allowed) => {
    const url = UrlParams.makeUrl(request.url, request.urlParams, Option.none())
    if (Either.isLeft(url)) {
      return Either.left(
        new OAuthError.TransportError({ reason: "Insecure", description: "the request URL is not absolute" })
      )
    }
    const target = url.right
    if (target.origin !== allowed.origin) {
      return Either.left(
        new OAuthError.TransportError({
          reason: "Insecure",
          description: `refusing to send the token for ${allowed.origin} to another origin`,
          endpoint: label(target)
        })
      )
    }
    if (!isSecure(target)) {
      return Either.left(
        new OAuthError.TransportError({
          reason: "Insecure",
          description: "refusing to send a token over plain HTTP to a non-loopback address",
          endpoint: label(target)
        })
      )
    }
    return Either.right(request)
  })

/**
 * The fetch client follows redirects unless told otherwise (undici and node:http never do): a
 * redirect must come back to the caller, so that no hop receives a credential unchecked.
 *
 * @internal
 */
export const manualRedirects = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.serviceOption(FetchHttpClient.RequestInit),
    (init) =>
      Effect.provideService(effect, FetchHttpClient.RequestInit, {
        ...Option.getOrElse(init, () => ({})),
        redirect: "manual"
      })
  )

// Carries a refusal out of the request hook below, which can only return or throw.
class Refused {
  constructor(readonly error: OAuthError.TransportError) {}
}

/**
 * Runs `check` on every request that `effect` sends, at the lowest level: inside the `HttpClient`
 * that puts it on the wire, after any redirect loop of a wrapped client. A refused request is never
 * sent; `effect` fails with the check's `TransportError`.
 *
 * Every client built on `HttpClient.make` (fetch, undici, node:http) asks the
 * `currentTracerDisabledWhen` predicate about each request just before sending it; the check runs
 * there (with the tracer forced on so that the predicate is asked, and the caller's tracing choices
 * kept).
 *
 * @internal
 */
export const guardEachRequest = (
  check: (request: HttpClientRequest.HttpClientRequest) => Either.Either<unknown, OAuthError.TransportError>
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | OAuthError.TransportError, R> =>
  Effect.flatMap(
    Effect.zip(FiberRef.get(FiberRef.currentTracerEnabled), FiberRef.get(HttpClient.currentTracerDisabledWhen)),
    ([enabled, disabledWhen]) =>
      effect.pipe(
        Effect.locally(HttpClient.currentTracerDisabledWhen, (request) => {
          const checked = check(request)
          if (Either.isLeft(checked)) throw new Refused(checked.left)
          return !enabled || disabledWhen(request)
        }),
        Effect.locally(FiberRef.currentTracerEnabled, true),
        Effect.catchSomeDefect((defect) =>
          defect instanceof Refused ? Option.some(Effect.fail(defect.error)) : Option.none()
        )
      )
  )
