/**
 * The front-channel half of the authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636):
 * the authorization request (URL, `state`, S256 challenge) and the checks on the redirect that comes
 * back (`state`, and `iss` per RFC 9207) before its code may be exchanged.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Pkce from "@tokenfx/core/Pkce"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as narrow from "./internal/narrow.js"
import * as tokenRequest from "./internal/tokenRequest.js"
import type * as TokenRequest from "./TokenRequest.js"

/**
 * What to ask for in an authorization request.
 *
 * @since 0.1.0
 * @category models
 */
export interface UrlOptions extends TokenRequest.ScopeOptions {
  readonly redirectUri: string
  /** By default 256 random bits from WebCrypto. */
  readonly state?: string | undefined
  /** The OpenID Connect `nonce`: a given value, or `true` for 256 random bits. */
  readonly nonce?: string | boolean | undefined
  /** Further parameters, such as `prompt` or `login_hint`; one whose value is `undefined` is left out. */
  readonly extra?: Readonly<Record<string, string | undefined>> | undefined
}

/**
 * An authorization request in flight: the URL to send the user to, and what the redirect must be
 * checked against and the code exchanged with. Keep it (in the session) until the redirect returns.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationRequest {
  readonly url: string
  readonly state: string
  readonly verifier: Redacted.Redacted<string>
  readonly redirectUri: string
  readonly nonce?: string | undefined
}

/**
 * Builds an authorization request for `clientId` at `authorizationEndpoint` with a fresh PKCE
 * verifier (its S256 challenge in the URL) and `state`. Query parameters already in the endpoint are
 * kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRequest = (
  authorizationEndpoint: URL,
  clientId: string,
  options: UrlOptions
): Effect.Effect<AuthorizationRequest> =>
  Effect.gen(function*() {
    const pkce = yield* Pkce.make
    const state = options.state ?? (yield* Pkce.state)
    const nonce = options.nonce === true
      ? yield* Pkce.nonce
      : typeof options.nonce === "string"
      ? options.nonce
      : undefined
    const url = new URL(authorizationEndpoint)
    const query: Record<string, string | ReadonlyArray<string> | undefined> = {
      response_type: "code",
      client_id: clientId,
      redirect_uri: options.redirectUri,
      state,
      code_challenge: pkce.challenge,
      code_challenge_method: pkce.method,
      nonce,
      ...tokenRequest.scope(options),
      ...options.extra
    }
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined) continue
      url.searchParams.delete(key)
      if (typeof value === "string") url.searchParams.append(key, value)
      else for (const item of value) url.searchParams.append(key, item)
    }
    return { url: url.toString(), state, verifier: pkce.verifier, redirectUri: options.redirectUri, nonce }
  })

/**
 * The parameters of the redirect back to the client: a `code`, or an `error`, with `state` and,
 * from servers that support RFC 9207, `iss`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Callback {
  readonly code?: string | undefined
  readonly state?: string | undefined
  readonly iss?: string | undefined
  readonly error?: string | undefined
  readonly error_description?: string | undefined
  readonly error_uri?: string | undefined
}

/**
 * Reads the callback parameters from the redirect URL (its query string) or a query string.
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseCallback = (input: string | URL | URLSearchParams): Callback => {
  const search = input instanceof URLSearchParams
    ? input
    : input instanceof URL
    ? input.searchParams
    : URL.canParse(input)
    ? new URL(input).searchParams
    : new URLSearchParams(input)
  const get = (name: string) => search.get(name) ?? undefined
  return {
    code: get("code"),
    state: get("state"),
    iss: get("iss"),
    error: get("error"),
    error_description: get("error_description"),
    error_uri: get("error_uri")
  }
}

/**
 * The redirect does not belong to the request: its `state` differs (a forged or replayed redirect),
 * its `iss` names another server (a mix-up attack, RFC 9207), it lacks an `iss` the server promised,
 * or it carries neither a code nor an error.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidAuthorizationResponse
  extends Schema.TaggedError<InvalidAuthorizationResponse>("@tokenfx/http/InvalidAuthorizationResponse")(
    "InvalidAuthorizationResponse",
    { reason: Schema.Literal("StateMismatch", "IssuerMismatch", "MissingIssuer", "MissingCode") }
  )
{
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    switch (this.reason) {
      case "StateMismatch":
        return "The authorization response's state does not match the request"
      case "IssuerMismatch":
        return "The authorization response comes from another issuer"
      case "MissingIssuer":
        return "The authorization response has no iss parameter, though the server sends one"
      case "MissingCode":
        return "The authorization response has neither a code nor an error"
    }
  }
}

/**
 * The errors an authorization server can redirect back with (RFC 6749 section 4.1.2.1); codes from
 * extensions (OpenID Connect's `login_required` and others) are `UnknownOAuthError`.
 *
 * @since 0.1.0
 * @category errors
 */
export type AuthorizationError =
  | OAuthError.InvalidRequest
  | OAuthError.UnauthorizedClient
  | OAuthError.AccessDenied
  | OAuthError.InvalidScope
  | OAuthError.InvalidTarget
  | OAuthError.ServerError
  | OAuthError.TemporarilyUnavailable
  | OAuthError.UnknownOAuthError

const narrowAuthorization = narrow.narrow([
  "InvalidRequest",
  "UnauthorizedClient",
  "AccessDenied",
  "InvalidScope",
  "InvalidTarget",
  "ServerError",
  "TemporarilyUnavailable"
])

const authorizationError = (callback: Callback & { readonly error: string }): AuthorizationError =>
  narrowAuthorization(
    OAuthError.fromCode(callback.error, { description: callback.error_description, uri: callback.error_uri })
  )

/**
 * Checks a redirect against its request and returns its code. `state` must match. `iss` must be
 * `issuer` when both are known, and must be present when `requireIssuer` (the server's metadata says
 * `authorization_response_iss_parameter_supported`). Only a redirect that passes these checks has its
 * `error` reported, so a forged redirect cannot pass for the server's answer.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verify = (
  request: AuthorizationRequest,
  callback: Callback,
  options: { readonly issuer?: string | undefined; readonly requireIssuer?: boolean | undefined } = {}
): Either.Either<Redacted.Redacted<string>, InvalidAuthorizationResponse | AuthorizationError> => {
  if (callback.state !== request.state) {
    return Either.left(new InvalidAuthorizationResponse({ reason: "StateMismatch" }))
  }
  if (callback.iss === undefined) {
    if (options.requireIssuer === true) {
      return Either.left(new InvalidAuthorizationResponse({ reason: "MissingIssuer" }))
    }
  } else if (options.issuer !== undefined && callback.iss !== options.issuer) {
    return Either.left(new InvalidAuthorizationResponse({ reason: "IssuerMismatch" }))
  }
  if (callback.error !== undefined) return Either.left(authorizationError({ ...callback, error: callback.error }))
  if (callback.code === undefined || callback.code.length === 0) {
    return Either.left(new InvalidAuthorizationResponse({ reason: "MissingCode" }))
  }
  return Either.right(Redacted.make(callback.code))
}
