import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Record from "effect/Record"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Compliance from "../Compliance.js"
import * as destination from "./destination.js"
import * as form from "./form.js"
import * as requestSettings from "./requestSettings.js"
import * as scrub from "./scrub.js"

/** @internal */
export interface Request {
  readonly method: "GET" | "POST"
  readonly url: string
  readonly form?: form.Form | undefined
  readonly headers?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** An access token for the `Authorization` header, in its scheme. */
  readonly token?: { readonly scheme: "Bearer" | "DPoP"; readonly value: Redacted.Redacted<string> } | undefined
  /** Secrets the request carries only in encoded form (the client secret inside a Basic header). */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  /** The provider's compliance hook, and which endpoint this is to it. */
  readonly compliance?: { readonly hooks: Compliance.Compliance; readonly endpoint: Compliance.Endpoint } | undefined
  /** The media type asked for, when not JSON. */
  readonly accept?: string | undefined
}

/** @internal */
export interface Settings {
  readonly timeout: Duration.Duration
  readonly allowInsecure: boolean
  readonly maxBodySize: number
}

/**
 * The largest body read from an authorization server unless told otherwise: 1 MiB, a thousand times
 * any honest token response or metadata document.
 *
 * @internal
 */
export const defaultMaxBodySize = 1024 * 1024

/**
 * The settings of a client: a 10-second timeout and a 1 MiB body cap unless told otherwise, HTTPS
 * or loopback only.
 *
 * @internal
 */
export const settings = (options: {
  readonly timeout?: Duration.DurationInput | undefined
  readonly allowInsecureHttp?: boolean | undefined
  readonly maxBodySize?: number | undefined
}): Settings => ({
  timeout: options.timeout === undefined ? Duration.seconds(10) : Duration.decode(options.timeout),
  allowInsecure: options.allowInsecureHttp ?? false,
  maxBodySize: options.maxBodySize !== undefined && Number.isFinite(options.maxBodySize) && options.maxBodySize >= 0
    ? Math.floor(options.maxBodySize)
    : defaultMaxBodySize
})

/**
 * A body as text, read as a stream with a byte counter that stops pulling at `max` bytes: an endless
 * or huge body costs at most `max` bytes. `undefined` when the body is larger; an absent body is
 * empty. Bytes that are not UTF-8 are replaced, never a failure.
 *
 * @internal
 */
export const readBounded = (
  response: HttpClientResponse.HttpClientResponse,
  max: number
): Effect.Effect<string | undefined, HttpClientError.ResponseError> =>
  Effect.suspend(() => {
    const chunks: Array<Uint8Array> = []
    let size = 0
    let over = false
    return Stream.runForEachWhile(response.stream, (chunk) =>
      Effect.sync(() => {
        size += chunk.length
        if (size > max) {
          over = true
          return false
        }
        chunks.push(chunk)
        return true
      })).pipe(
        Effect.catchIf((error) => error.reason === "EmptyBody", () => Effect.void),
        Effect.map(() => {
          if (over) return undefined
          const bytes = new Uint8Array(size)
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.length
          }
          return new TextDecoder().decode(bytes)
        })
      )
  })

/**
 * A 2xx answer.
 *
 * @internal
 */
export interface Answer {
  readonly status: number
  readonly body: string
  readonly endpoint: string
  /** The media type of the body (`Content-Type` without parameters, lower case), when the server said. */
  readonly mediaType?: string | undefined
}

const mediaTypeOf = (headers: Readonly<Record<string, string>>): string | undefined => {
  const value = headers["content-type"]?.split(";")[0].trim().toLowerCase()
  return value === undefined || value === "" ? undefined : value
}

/** @internal */
export type Failure = OAuthError.ProtocolError | OAuthError.MalformedResponse | OAuthError.TransportError

const describeCause = (cause: unknown): string | undefined => {
  // Node's fetch hides the system error (ECONNREFUSED, ENOTFOUND) one level down.
  const inner = cause instanceof Error && cause.cause instanceof Error ? cause.cause : cause
  if (inner instanceof Error) {
    const code = (inner as { readonly code?: unknown }).code
    return typeof code === "string" ? code : inner.name
  }
  return undefined
}

const fromClientError = (
  error: HttpClientError.HttpClientError,
  endpoint: string,
  request: Request
): OAuthError.TransportError => {
  const cause = describeCause(error.cause)
  return new OAuthError.TransportError({
    reason: "Connection",
    description: error._tag === "RequestError"
      ? `request failed${cause === undefined ? "" : ` (${cause})`}`
      : "the response could not be read",
    endpoint,
    // The underlying error, never the request: its body holds the client secret and the grant. An HTTP
    // parser's error keeps the bytes past where it stopped, which a hostile server fills with the request.
    cause: error.cause instanceof Error ? scrub.scrubCause(error.cause, scrub.needles(secretsOf(request))) : undefined
  })
}

const secretsOf = (request: Request): Array<Redacted.Redacted<string>> => {
  const found = [...(request.secrets ?? []), ...Object.values(request.headers ?? {})]
  if (request.token !== undefined) found.push(request.token.value)
  for (const value of Object.values(request.form ?? {})) {
    if (Redacted.isRedacted(value)) found.push(value as Redacted.Redacted<string>)
  }
  return found
}

// A JSON object with a non-empty string `error` and no `access_token`: an error, whatever the status.
const hasErrorMember = (body: string): boolean => {
  if (!body.includes("\"error\"")) return false
  const parsed = Json.parseObject(body)
  return parsed !== undefined && typeof parsed["error"] === "string" && parsed["error"] !== "" &&
    !Object.hasOwn(parsed, "access_token")
}

/**
 * Sends one request and returns its 2xx answer. A connection failure or timeout is a
 * `TransportError`, so is any 3xx (redirects are never followed, reason `Redirect`); any other status
 * is mapped by `ErrorResponse.fromHttp`, with every secret of the request masked where the server echoes
 * it.
 *
 * @internal
 */
export const send = (
  client: HttpClient.HttpClient,
  request: Request,
  settings: Settings
): Effect.Effect<Answer, Failure> =>
  Effect.flatMap(destination.checkEndpoint(request.url, settings.allowInsecure), (url) => {
    const endpoint = destination.label(url)
    const http = HttpClientRequest.make(request.method)(url).pipe(
      request.accept === undefined ? HttpClientRequest.acceptJson : HttpClientRequest.accept(request.accept),
      HttpClientRequest.setHeaders(Record.map(request.headers ?? {}, Redacted.value)),
      (http) =>
        request.form === undefined ? http : HttpClientRequest.bodyUrlParams(http, form.toUrlParams(request.form)),
      (http) =>
        request.token === undefined
          ? http
          : request.token.scheme === "Bearer"
          ? HttpClientRequest.bearerToken(http, request.token.value)
          : HttpClientRequest.setHeader(http, "authorization", `DPoP ${Redacted.value(request.token.value)}`)
    )
    return client.execute(http).pipe(
      Effect.flatMap((response) =>
        Effect.map(readBounded(response, settings.maxBodySize), (body) => ({ response, body }))
      ),
      requestSettings.send,
      Effect.mapError((error) => fromClientError(error, endpoint, request)),
      Effect.timeoutFail({
        duration: settings.timeout,
        onTimeout: () =>
          new OAuthError.TransportError({
            reason: "Timeout",
            description: `no answer within ${Duration.format(settings.timeout)}`,
            endpoint
          })
      }),
      Effect.flatMap(({ body, response }) => {
        if (body !== undefined) return Effect.succeed({ body, response })
        if (response.status >= 200 && response.status < 300) {
          return Effect.fail(
            new OAuthError.MalformedResponse({
              reason: `the body is larger than ${settings.maxBodySize} bytes`,
              status: response.status,
              endpoint
            })
          )
        }
        // An error body over the cap is not read: the status and headers say enough.
        return Effect.succeed({ body: "", response })
      }),
      Effect.flatMap((read) => Effect.map(Clock.currentTimeMillis, (now) => comply(request, read, now))),
      Effect.flatMap(({ body, headers, now, status, raw }): Effect.Effect<Answer, Failure> => {
        const failed = () => {
          const error = ErrorResponse.fromHttp({ status, headers, body, endpoint }, now)
          const hook = request.compliance?.hooks.error
          const mapped = raw === undefined || hook === undefined || error._tag === "MalformedResponse"
            ? error
            : hook(error, raw)
          return Effect.fail(scrub.scrub(mapped, scrub.needles(secretsOf(request))))
        }
        if (status >= 200 && status < 300) {
          // Some providers (GitHub) answer errors with 200 and an `error` member: the error it names.
          return hasErrorMember(body)
            ? failed()
            : Effect.succeed({ status, body, endpoint, mediaType: mediaTypeOf(headers) })
        }
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
        return failed()
      })
    )
  })

// The answer as the provider's compliance hook rewrites it (when there is one), before it is read.
const comply = (
  request: Request,
  read: {
    readonly body: string
    readonly response: { readonly status: number; readonly headers: Readonly<Record<string, string>> }
  },
  now: number
) => {
  const compliance = request.compliance
  if (compliance === undefined) {
    return { status: read.response.status, headers: read.response.headers, body: read.body, now, raw: undefined }
  }
  const wire = {
    endpoint: compliance.endpoint,
    status: read.response.status,
    headers: read.response.headers,
    body: read.body
  }
  const raw = compliance.hooks.answer === undefined ? wire : compliance.hooks.answer(wire, now)
  return { status: raw.status, headers: raw.headers, body: raw.body, now, raw }
}

const problems: Record<Json.Problem, string> = {
  "empty": "expected a JSON body, got an empty one",
  "not JSON": "expected a JSON body, got something else",
  "too deeply nested": "the JSON body is nested too deeply"
}

/**
 * Reads a 2xx body as JSON. An empty or non-JSON body (an HTML page from a proxy), or one nested
 * deeper than `Json.maxDepth`, is a `MalformedResponse` that never quotes the body; `__proto__`
 * members are dropped.
 *
 * @internal
 */
export const json = (answer: Answer): Either.Either<unknown, OAuthError.MalformedResponse> =>
  Either.mapLeft(
    Json.parse(answer.body),
    (problem) =>
      new OAuthError.MalformedResponse({ reason: problems[problem], status: answer.status, endpoint: answer.endpoint })
  )

/**
 * Decodes a 2xx answer with `schema`; a failure is a `MalformedResponse` naming the field, never its
 * value.
 *
 * @internal
 */
export const decode = <A, I>(schema: Schema.Schema<A, I>) => {
  const decodeUnknown = Schema.decodeUnknownEither(schema)
  return (answer: Answer): Either.Either<A, OAuthError.MalformedResponse> =>
    Either.flatMap(
      json(answer),
      (body) =>
        Either.mapLeft(decodeUnknown(body), (error) => OAuthError.MalformedResponse.fromParseError(error, answer))
    )
}
