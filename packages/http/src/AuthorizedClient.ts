/**
 * An `HttpClient` that sends a `TokenManager`'s token: `Authorization: Bearer` (or `DPoP`) on every
 * request to the token's origin, one refresh and one retry after a 401, and typed errors for a
 * rejected token (`InvalidToken`), a missing scope (`InsufficientScope`) or a claims challenge
 * (`InsufficientClaims`, which no refresh can satisfy: it is never retried).
 *
 * The token never leaves its origin: requests elsewhere, and plain HTTP except to loopback, fail
 * with a `TransportError` before anything is sent. Redirects are not followed (the fetch client is
 * told so); compose `HttpClient.followRedirects` on top to follow them, each hop checked.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as WwwAuthenticate from "@tokenfx/core/WwwAuthenticate"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Redacted from "effect/Redacted"
import * as Dpop from "./Dpop.js"
import * as destination from "./internal/destination.js"
import * as requestSettings from "./internal/requestSettings.js"
import * as resourceErrors from "./internal/resourceErrors.js"
import * as withoutToken from "./internal/withoutToken.js"
import * as Telemetry from "./Telemetry.js"
import * as TokenManager from "./TokenManager.js"

/**
 * What a request through an authorized client can fail with, besides the wrapped client's errors.
 *
 * @since 0.1.0
 * @category errors
 */
export type AuthorizedClientError =
  | TokenManager.GetError
  | OAuthError.InvalidToken
  | OAuthError.InsufficientScope
  | OAuthError.InsufficientClaims
  | OAuthError.TransportError

/**
 * Which key's token the client sends, and to which origin.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `TokenManager` key whose token is sent. */
  readonly key: string
  /** The only origin (scheme, host and port) the token is sent to, e.g. `https://api.example.com`. */
  readonly origin: string | URL
  /**
   * The DPoP key the tokens are bound to (the token endpoint's `dpop`): each request then carries
   * `Authorization: DPoP` with a proof, and one more try when the server asks for a nonce.
   */
  readonly dpop?: Dpop.Dpop | undefined
  /** The `client` label of the metrics this client records (see `Telemetry`). Default: `"default"`. */
  readonly clientLabel?: string | undefined
}

/**
 * An `HttpClient` that authorizes its requests.
 *
 * @since 0.1.0
 * @category tags
 */
export class AuthorizedClient extends Context.Tag("@tokenfx/http/AuthorizedClient")<
  AuthorizedClient,
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | AuthorizedClientError>
>() {}

const withToken = (request: HttpClientRequest.HttpClientRequest, token: Token.Token) =>
  // The one place the access token is unwrapped: the wire.
  HttpClientRequest.setHeader(
    request,
    "authorization",
    `${resourceErrors.scheme(token)} ${Redacted.value(token.accessToken)}`
  )

const challenges = (response: HttpClientResponse.HttpClientResponse): ReadonlyArray<WwwAuthenticate.Challenge> => {
  const header = response.headers["www-authenticate"]
  return header === undefined ? [] : WwwAuthenticate.parse(header)
}

// A claims challenge, or a 401 naming a missing scope, asks for a new authorization, which a refresh
// is not: it fails as it is.
const checkClaims = (
  response: HttpClientResponse.HttpClientResponse,
  token: Token.Token
): Effect.Effect<
  HttpClientResponse.HttpClientResponse,
  OAuthError.InsufficientClaims | OAuthError.InsufficientScope
> => {
  const found = challenges(response)
  const endpoint = destination.labelOf(response.request.url)
  const error = resourceErrors.insufficientClaims(found, response.status, endpoint, token) ??
    resourceErrors.insufficientScope(found, response.status, endpoint, token)
  return error === undefined ? Effect.succeed(response) : Effect.fail(error)
}

const invalidToken = (
  response: HttpClientResponse.HttpClientResponse,
  token: Token.Token,
  note?: string
): OAuthError.InvalidToken =>
  resourceErrors.invalidToken(
    challenges(response),
    response.status,
    destination.labelOf(response.request.url),
    token,
    note
  )

const checkScope = (
  response: HttpClientResponse.HttpClientResponse,
  token: Token.Token
): Effect.Effect<HttpClientResponse.HttpClientResponse, OAuthError.InsufficientScope> => {
  if (response.status !== 403) return Effect.succeed(response)
  const error = resourceErrors.insufficientScope(
    challenges(response),
    403,
    destination.labelOf(response.request.url),
    token
  )
  return error === undefined ? Effect.succeed(response) : Effect.fail(error)
}

// A DPoP-bound token is useless without its proof, and would only be refused after a wasted refresh.
const unprovable = (request: HttpClientRequest.HttpClientRequest) =>
  new OAuthError.TransportError({
    reason: "Insecure",
    description: "the token is DPoP-bound and no DPoP key was given to prove it",
    endpoint: destination.labelOf(request.url)
  })

/**
 * Authorizes a client's requests with the token of `options.key` from `manager`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const authorize: {
  /**
   * Authorizes a client's requests with the token of `options.key` from `manager`.
   *
   * @since 0.1.0
   * @category combinators
   */
  (
    manager: TokenManager.TokenManager["Type"],
    options: Options
  ): <E, R>(self: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E | AuthorizedClientError, R>
  /**
   * Authorizes a client's requests with the token of `options.key` from `manager`.
   *
   * @since 0.1.0
   * @category combinators
   */
  <E, R>(
    self: HttpClient.HttpClient.With<E, R>,
    manager: TokenManager.TokenManager["Type"],
    options: Options
  ): HttpClient.HttpClient.With<E | AuthorizedClientError, R>
} = dual(3, <E, R>(
  self: HttpClient.HttpClient.With<E, R>,
  manager: TokenManager.TokenManager["Type"],
  options: Options
): HttpClient.HttpClient.With<E | AuthorizedClientError, R> => {
  const targets = destination.targetCheck(destination.parseOrigin(options.origin))
  // Checked after the wrapped client's own request transformations (a base URL, say), on the URL
  // that is really sent to; every redirect hop a caller follows passes through here again.
  const target = HttpClient.mapRequestEffect(self, (request) => {
    const refused = targets.check(request)
    return refused === undefined ? Either.right(request) : Either.left(refused)
  })
  // Checked again on every request the wrapped client really sends (a redirect it follows).
  const sendSafely = requestSettings.sendGuarded((sent) =>
    sent.headers["authorization"] === undefined ? undefined : targets.check(sent)
  )
  const checked = options.dpop === undefined ? target : Dpop.withProofs(target, options.dpop)
  const rejections = (status: "401" | "403") =>
    Metric.taggedWithLabels(Telemetry.resourceResponses, [
      Telemetry.clientLabel(options.clientLabel),
      MetricLabel.make("status", status)
    ])
  const unauthorized = rejections("401")
  const forbidden = rejections("403")
  // Every 401 and 403 the resource answers, the retried request's included.
  const seen = (response: HttpClientResponse.HttpClientResponse) =>
    response.status === 401
      ? Metric.increment(unauthorized)
      : response.status === 403
      ? Metric.increment(forbidden)
      : Effect.void
  const send = (request: HttpClientRequest.HttpClientRequest, token: Token.Token) =>
    token.tokenType === "DPoP" && options.dpop === undefined
      ? Effect.fail(unprovable(request))
      : checked.execute(withToken(request, token)).pipe(
        sendSafely,
        Effect.map(withoutToken.response),
        Effect.mapError(withoutToken.error),
        Effect.tap(seen)
      )

  const run = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.gen(function*() {
      // Refuse before asking for a token when the URL is already known to be wrong.
      const refused = targets.checkAbsolute(request)
      if (refused !== undefined) return yield* Effect.fail(refused)
      const token = yield* manager.get(options.key)
      const response = yield* send(request, token)
      if (response.status !== 401) return yield* checkScope(response, token)
      yield* checkClaims(response, token)
      // Coalesced: a 401 already led to a refresh of this key just now, so the resource rejects fresh
      // tokens too; another refresh would only rotate the grant for nothing.
      if (!(yield* manager.invalidate(options.key, token))) {
        return yield* invalidToken(response, token, "not retried: a fresh token was rejected moments ago")
      }
      if (request.body._tag === "Stream") {
        return yield* invalidToken(response, token, "not retried: the request body is a stream")
      }
      const fresh = yield* manager.get(options.key)
      const retried = yield* send(request, fresh)
      if (retried.status === 401) {
        return yield* Effect.zipRight(checkClaims(retried, fresh), invalidToken(retried, fresh))
      }
      return yield* checkScope(retried, fresh)
    })

  return HttpClient.makeWith(
    (request: Effect.Effect<HttpClientRequest.HttpClientRequest>) => Effect.flatMap(request, run),
    Effect.succeed
  )
})

/**
 * An authorized client over the `HttpClient` and `TokenManager` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | AuthorizedClientError>,
  never,
  HttpClient.HttpClient | TokenManager.TokenManager
> =>
  Effect.map(
    Effect.all([HttpClient.HttpClient, TokenManager.TokenManager]),
    ([client, manager]) => authorize(client, manager, options)
  )

/**
 * The `AuthorizedClient` over the `HttpClient` and `TokenManager` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<AuthorizedClient, never, HttpClient.HttpClient | TokenManager.TokenManager> =>
  Layer.effect(AuthorizedClient, make(options))
