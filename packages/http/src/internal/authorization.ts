import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

/** @internal */
export const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname.endsWith(".localhost") || hostname === "[::1]" ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * Where a request goes, for errors: origin and path, never the query.
 *
 * @internal
 */
export const label = (url: URL): string => `${url.origin}${url.pathname}`

/**
 * The origin a token is for, or why it cannot be one.
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
 * Lets a token go only to its own origin, over HTTPS or to a loopback address.
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
    if (target.protocol !== "https:" && !(target.protocol === "http:" && isLoopback(target.hostname))) {
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
 * redirect must come back to the caller, so that no hop receives the token unchecked.
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
