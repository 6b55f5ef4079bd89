/**
 * Where a `TokenManager` gets new tokens: one function, a new token for a key given the stored one
 * (golang/oauth2's `TokenSource`), plus revocation where the server offers it. The default is built
 * from a `TokenEndpoint`; fakes, benchmarks and custom grants implement only these two functions.
 *
 * @since 0.2.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type * as TokenEndpointError from "./TokenEndpointError.js"
import type * as TokenRequest from "./TokenRequest.js"

/**
 * What a source is asked for: a new token for `key`, whose stored token (if any) is `token`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Request {
  readonly key: string
  readonly token: Option.Option<Token.Token>
}

/**
 * Why the server was not asked to revoke a token.
 *
 * @since 0.2.0
 * @category models
 */
export type RevocationSkipped = Data.TaggedEnum<{
  /** The source has no revocation (no RFC 7009 endpoint, a custom source). */
  Unsupported: {}
}>

/**
 * Constructors and matchers of `RevocationSkipped`.
 *
 * @since 0.2.0
 * @category models
 */
export const RevocationSkipped = Data.taggedEnum<RevocationSkipped>()

/**
 * The source.
 *
 * - `requiresRefreshToken`: a stored token without a refresh token cannot be renewed (it is used until
 *   it expires, then the key needs a new login).
 * - `token`: a new token for a key.
 * - `revoke`: revokes a token at the server, or answers why it did not.
 *
 * @since 0.2.0
 * @category tags
 */
export class TokenSource extends Context.Tag("@tokenfx/http/TokenSource")<TokenSource, {
  readonly requiresRefreshToken: boolean
  readonly token: (request: Request) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  readonly revoke: (
    token: Token.Token
  ) => Effect.Effect<Option.Option<RevocationSkipped>, TokenEndpointError.RevocationError>
}>() {}

/**
 * Which grant renews tokens when a source is built from a `TokenEndpoint`.
 *
 * @since 0.2.0
 * @category models
 */
export type Grant = Data.TaggedEnum<{
  RefreshToken: { readonly options: TokenRequest.ScopeOptions | undefined }
  ClientCredentials: { readonly options: TokenRequest.ScopeOptions | undefined }
  Custom: { readonly acquire: (request: Request) => Effect.Effect<Token.Token, TokenEndpointError.GrantError> }
}>

const Grant = Data.taggedEnum<Grant>()

/**
 * The refresh token grant (RFC 6749 section 6). A key without a stored token, or whose expired token
 * has no refresh token, needs a new login (`ReconnectRequired`).
 *
 * @since 0.2.0
 * @category constructors
 */
export const refreshToken = (options?: TokenRequest.ScopeOptions | undefined): Grant => Grant.RefreshToken({ options })

/**
 * A new client credentials grant (RFC 6749 section 4.4), for machine clients.
 *
 * @since 0.2.0
 * @category constructors
 */
export const clientCredentials = (options?: TokenRequest.ScopeOptions | undefined): Grant =>
  Grant.ClientCredentials({ options })

/**
 * An effect of your own (a token exchange, a signed assertion, another service).
 *
 * @since 0.2.0
 * @category constructors
 */
export const custom = (
  acquire: (request: Request) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
): Grant => Grant.Custom({ acquire })

const unsupported = Effect.succeed(Option.some(RevocationSkipped.Unsupported()))

/**
 * A source over a `TokenEndpoint`. Revocation uses RFC 7009 (the refresh token when there is one, so
 * the whole grant ends); an endpoint without a revocation endpoint answers `Unsupported`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromEndpoint = (
  endpoint: TokenEndpoint.TokenEndpoint["Type"],
  grant: Grant = refreshToken()
): TokenSource["Type"] =>
  TokenSource.of({
    requiresRefreshToken: grant._tag === "RefreshToken",
    token: (request) => {
      switch (grant._tag) {
        case "RefreshToken": {
          if (Option.isNone(request.token)) {
            return Effect.fail(new OAuthError.InvalidGrant({ description: "no token is stored to refresh" }))
          }
          return endpoint.refresh(request.token.value, grant.options)
        }
        case "ClientCredentials":
          return endpoint.clientCredentials(grant.options)
        case "Custom":
          return grant.acquire(request)
      }
    },
    revoke: (token) =>
      (token.refreshToken === undefined
        ? endpoint.revoke(token.accessToken, "access_token")
        : endpoint.revoke(token.refreshToken, "refresh_token")).pipe(
          Effect.as(Option.none<RevocationSkipped>()),
          Effect.catchTag("MissingEndpoint", () => unsupported)
        )
  })

/**
 * A source from a function alone; it cannot revoke.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  token: (request: Request) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>,
  options?: { readonly requiresRefreshToken?: boolean | undefined } | undefined
): TokenSource["Type"] =>
  TokenSource.of({
    requiresRefreshToken: options?.requiresRefreshToken ?? false,
    token,
    revoke: () => unsupported
  })

/**
 * A source over the `TokenEndpoint` in context.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerEndpoint = (
  grant?: Grant | undefined
): Layer.Layer<TokenSource, never, TokenEndpoint.TokenEndpoint> =>
  Layer.effect(TokenSource, Effect.map(TokenEndpoint.TokenEndpoint, (endpoint) => fromEndpoint(endpoint, grant)))
