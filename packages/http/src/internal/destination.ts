import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as UrlParams from "@effect/platform/UrlParams"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Either from "effect/Either"
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
 * Why a token for `allowed` may not go to `target`, if it may not: another origin (`CrossOrigin`),
 * or plain HTTP to an address that is not loopback (`Insecure`).
 *
 * @internal
 */
export const refuse = (target: URL, allowed: URL): OAuthError.TransportError | undefined => {
  if (target.origin !== allowed.origin) {
    return new OAuthError.TransportError({
      reason: "CrossOrigin",
      description: `refusing to send the token for ${allowed.origin} to another origin`,
      endpoint: label(target)
    })
  }
  if (!isSecure(target)) {
    return new OAuthError.TransportError({
      reason: "Insecure",
      description: "refusing to send a token over plain HTTP to a non-loopback address",
      endpoint: label(target)
    })
  }
  return undefined
}

/** @internal */
export const notAbsolute = (): OAuthError.TransportError =>
  new OAuthError.TransportError({ reason: "CrossOrigin", description: "the request URL is not absolute" })

/**
 * Lets a bearer token go only to its own origin, and only if that is {@link isSecure}, as a client checks every request it sends: before the token is
 * asked for (`absolute`, which lets a relative URL through, since a wrapped client may resolve it
 * later), after the wrapped client's own transformations, and on the wire. The verdict depends on the
 * URL text alone (query parameters never change an origin), so the last one is remembered: a request's
 * URL is parsed once however often it is checked, and not again for the next request to the same URL.
 *
 * @internal
 */
export interface TargetCheck {
  readonly check: (request: HttpClientRequest.HttpClientRequest) => OAuthError.TransportError | undefined
  readonly checkAbsolute: (request: HttpClientRequest.HttpClientRequest) => OAuthError.TransportError | undefined
}

/** @internal */
export const targetCheck = (origin: Either.Either<URL, OAuthError.TransportError>): TargetCheck => {
  if (Either.isLeft(origin)) return { check: () => origin.left, checkAbsolute: () => origin.left }
  const allowed = origin.right
  // The verdict on the last URL: whether it is absolute, and whether the token may go there.
  let lastUrl: string | undefined
  let lastAbsolute = false
  let lastAllowed = false
  // Parses `url` again, on the rare path that ends in an error (which is built fresh every time).
  const refusal = (url: string): OAuthError.TransportError => {
    const resolved = UrlParams.makeUrl(url, [], Option.none())
    return Either.isLeft(resolved) ? notAbsolute() : refuse(resolved.right, allowed) ?? notAbsolute()
  }
  const judge = (url: string) => {
    if (url === lastUrl) return
    let parsed: URL | undefined
    try {
      parsed = new URL(url)
    } catch {
      parsed = undefined
    }
    // A relative URL: resolved as the platform resolves it (against `location` in a browser).
    const resolved = parsed ?? Either.getOrUndefined(UrlParams.makeUrl(url, [], Option.none()))
    lastAbsolute = parsed !== undefined
    lastAllowed = resolved !== undefined && refuse(resolved, allowed) === undefined
    lastUrl = url
  }
  return {
    check: (request) => {
      judge(request.url)
      return lastAllowed ? undefined : refusal(request.url)
    },
    checkAbsolute: (request) => {
      judge(request.url)
      return lastAllowed || !lastAbsolute ? undefined : refusal(request.url)
    }
  }
}
