import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** @internal */
export type FormValue = string | Redacted.Redacted<string> | ReadonlyArray<string> | undefined

/** @internal */
export interface Request {
  readonly method: "GET" | "POST"
  readonly url: string
  readonly form?: Readonly<Record<string, FormValue>> | undefined
  readonly headers?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
}

/** @internal */
export const defaultTimeout: Duration.Duration = Duration.seconds(10)

/** @internal */
export interface Settings {
  readonly timeout: Duration.Duration
  readonly allowInsecure: boolean
}

/**
 * A 2xx answer.
 *
 * @internal
 */
export interface Answer {
  readonly status: number
  readonly body: string
  readonly endpoint: string
}

/** @internal */
export type Failure = OAuthError.ProtocolError | OAuthError.MalformedResponse | OAuthError.TransportError

const isLoopback = (hostname: string): boolean =>
  hostname === "localhost" || hostname.endsWith(".localhost") || hostname === "[::1]" ||
  /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)

/**
 * Where an endpoint is, for errors and spans: origin and path, never the query.
 *
 * @internal
 */
export const label = (url: URL): string => `${url.origin}${url.pathname}`

/**
 * Parses an endpoint and refuses plain HTTP except to a loopback address, where nothing crosses a
 * network (or when `allowInsecure`, for tests against a container).
 *
 * @internal
 */
export const checkUrl = (url: string, allowInsecure: boolean): Either.Either<URL, OAuthError.TransportError> => {
  if (!URL.canParse(url)) {
    return Either.left(
      new OAuthError.TransportError({ reason: "Insecure", description: "the endpoint is not an absolute URL" })
    )
  }
  const parsed = new URL(url)
  if (parsed.protocol === "https:") return Either.right(parsed)
  if (parsed.protocol === "http:" && (allowInsecure || isLoopback(parsed.hostname))) return Either.right(parsed)
  return Either.left(
    new OAuthError.TransportError({
      reason: "Insecure",
      description: "refusing to send credentials over plain HTTP to a non-loopback address",
      endpoint: label(parsed)
    })
  )
}

const formBody = (form: Readonly<Record<string, FormValue>>): string => {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(form)) {
    if (value === undefined) continue
    if (typeof value === "string") params.append(key, value)
    else if (Redacted.isRedacted(value)) params.append(key, Redacted.value(value))
    else for (const item of value) params.append(key, item)
  }
  return params.toString()
}

// The fetch client follows redirects unless told otherwise; undici and node:http never do.
const manualRedirects = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(
    Effect.serviceOption(FetchHttpClient.RequestInit),
    (init) =>
      Effect.provideService(effect, FetchHttpClient.RequestInit, {
        ...Option.getOrElse(init, () => ({})),
        redirect: "manual"
      })
  )

const describeCause = (cause: unknown): string | undefined => {
  // Node's fetch hides the system error (ECONNREFUSED, ENOTFOUND) one level down.
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause
  if (inner instanceof Error) {
    const code = (inner as { readonly code?: unknown }).code
    return typeof code === "string" ? code : inner.name
  }
  return undefined
}

const fromClientError = (error: HttpClientError.HttpClientError, endpoint: string): OAuthError.TransportError =>
  new OAuthError.TransportError({
    reason: "Connection",
    description: error._tag === "RequestError"
      ? `request failed${describeCause(error.cause) === undefined ? "" : ` (${describeCause(error.cause)})`}`
      : "the response could not be read",
    endpoint,
    // The underlying error, never the request: its body holds the client secret and the grant.
    cause: error.cause instanceof Error ? error.cause : undefined
  })

/**
 * Sends one request and returns its 2xx answer. A connection failure or timeout is a
 * `TransportError`, so is any 3xx (redirects are never followed, reason `Redirect`); any other status
 * is mapped by `OAuthError.fromHttp`.
 *
 * @internal
 */
export const send = (
  client: HttpClient.HttpClient,
  request: Request,
  settings: Settings
): Effect.Effect<Answer, Failure> =>
  Effect.flatMap(checkUrl(request.url, settings.allowInsecure), (url) => {
    const endpoint = label(url)
    let http = request.method === "POST" ? HttpClientRequest.post(url) : HttpClientRequest.get(url)
    http = HttpClientRequest.acceptJson(http)
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      http = HttpClientRequest.setHeader(http, name, Redacted.value(value))
    }
    if (request.form !== undefined) {
      http = HttpClientRequest.bodyText(http, formBody(request.form), "application/x-www-form-urlencoded")
    }
    return client.execute(http).pipe(
      Effect.flatMap((response) => Effect.map(response.text, (body) => ({ response, body }))),
      manualRedirects,
      Effect.mapError((error) => fromClientError(error, endpoint)),
      Effect.timeoutFail({
        duration: settings.timeout,
        onTimeout: () =>
          new OAuthError.TransportError({
            reason: "Timeout",
            description: `no answer within ${Duration.format(settings.timeout)}`,
            endpoint
          })
      }),
      Effect.flatMap(({ body, response }): Effect.Effect<Answer, Failure> => {
        const status = response.status
        if (status >= 200 && status < 300) return Effect.succeed({ status, body, endpoint })
        // A 3xx, or 0 for an opaque redirect: following it would send the grant somewhere unvetted.
        if (status < 400) {
          return Effect.fail(
            new OAuthError.TransportError({
              reason: "Redirect",
              description: `the endpoint answered HTTP ${status}; redirects are never followed`,
              endpoint
            })
          )
        }
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.fail(OAuthError.fromHttp({ status, headers: response.headers, body, endpoint }, now))
        )
      })
    )
  })

/**
 * Reads a 2xx body as JSON. An empty or non-JSON body (an HTML page from a proxy) is a
 * `MalformedResponse` that never quotes the body.
 *
 * @internal
 */
export const json = (answer: Answer): Either.Either<unknown, OAuthError.MalformedResponse> => {
  const malformed = (reason: string) =>
    Either.left(new OAuthError.MalformedResponse({ reason, status: answer.status, endpoint: answer.endpoint }))
  if (answer.body.trim().length === 0) return malformed("expected a JSON body, got an empty one")
  try {
    return Either.right(JSON.parse(answer.body))
  } catch {
    return malformed("expected a JSON body, got something else")
  }
}

/**
 * The tags of the protocol errors.
 *
 * @internal
 */
export type ProtocolTag = OAuthError.ProtocolError["_tag"]

/**
 * Keeps the protocol errors an operation can honestly fail with; any other code a server sends is an
 * `UnknownOAuthError` that keeps the code, so that each operation's signature stays truthful.
 *
 * @internal
 */
export const narrow = <const Tags extends ProtocolTag>(tags: ReadonlyArray<Tags>) => {
  const allowed: ReadonlySet<string> = new Set(tags)
  return (
    error: Failure
  ):
    | Extract<OAuthError.ProtocolError, { readonly _tag: Tags }>
    | OAuthError.UnknownOAuthError
    | OAuthError.TransportError
    | OAuthError.MalformedResponse =>
  {
    if (error._tag === "TransportError" || error._tag === "MalformedResponse") return error
    if (error._tag === "UnknownOAuthError" || allowed.has(error._tag)) {
      return error as Extract<OAuthError.ProtocolError, { readonly _tag: Tags }>
    }
    return new OAuthError.UnknownOAuthError({
      code: error.code,
      description: error.description,
      uri: error.uri,
      status: error.status,
      endpoint: error.endpoint,
      retryAfter: error.retryAfter
    })
  }
}
