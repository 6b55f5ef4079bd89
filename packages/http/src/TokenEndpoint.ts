/**
 * The conversation with an authorization server: every grant, revocation, introspection, the device
 * flow and discovery, with client authentication, timeouts and backoff that honours `Retry-After`.
 * Every answer is a core `Token` or a typed error (see `TokenEndpointError`); what a request asks for
 * is described in `TokenRequest`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as AuthorizationCode from "./AuthorizationCode.js"
import type * as DeviceAuthorization from "./DeviceAuthorization.js"
import type * as Discovery from "./Discovery.js"
import type * as IdToken from "./IdToken.js"
import * as internal from "./internal/tokenEndpoint.js"
import type * as Introspection from "./Introspection.js"
import type * as TokenEndpointError from "./TokenEndpointError.js"
import type * as TokenEndpointOptions from "./TokenEndpointOptions.js"
import type * as TokenRequest from "./TokenRequest.js"

/**
 * The errors a grant can fail with (the same as `TokenEndpointError.GrantError`).
 *
 * @since 0.1.0
 * @category errors
 */
export type GrantError = TokenEndpointError.GrantError

/**
 * The errors a revocation can fail with (the same as `TokenEndpointError.RevocationError`).
 *
 * @since 0.1.0
 * @category errors
 */
export type RevocationError = TokenEndpointError.RevocationError

/**
 * The client of an authorization server's endpoints: every grant, revocation, introspection, the device flow.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenEndpoint extends Context.Tag("@tokenfx/http/TokenEndpoint")<TokenEndpoint, {
  /**
   * The refresh token grant (RFC 6749 section 6) for `token`'s refresh token. The result is
   * `Token.rotate(token, response)`: the previous refresh token and scopes are kept where the server
   * omits them. A token without a refresh token fails with `InvalidGrant`.
   */
  readonly refresh: (
    token: Token.Token,
    options?: TokenRequest.ScopeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  /** The client credentials grant (RFC 6749 section 4.4). */
  readonly clientCredentials: (
    options?: TokenRequest.ScopeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  /** Revocation (RFC 7009). */
  readonly revoke: (
    token: Redacted.Redacted<string>,
    hint?: "access_token" | "refresh_token" | undefined
  ) => Effect.Effect<void, TokenEndpointError.RevocationError>
  /**
   * Starts the authorization code grant with PKCE: the URL to send the user to, with a fresh `state`
   * and S256 challenge. Keep the returned request until the redirect comes back.
   */
  readonly authorizationUrl: (
    options: AuthorizationCode.UrlOptions
  ) => Effect.Effect<
    AuthorizationCode.AuthorizationRequest,
    TokenEndpointError.MissingEndpoint | OAuthError.TransportError
  >
  /**
   * Finishes the authorization code grant: checks the redirect's `state` and `iss` against `request`
   * and exchanges its code with the PKCE verifier.
   */
  readonly exchangeCode: (
    request: AuthorizationCode.AuthorizationRequest,
    callback: AuthorizationCode.Callback | URL | string
  ) => Effect.Effect<Token.Token, TokenEndpointError.ExchangeCodeError>
  /** The authorization code grant's token request (RFC 6749 section 4.1.3, RFC 7636 section 4.5). */
  readonly authorizationCode: (
    options: TokenRequest.AuthorizationCodeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError | IdToken.InvalidIdToken>
  /** Starts the device authorization grant (RFC 8628 section 3.1). */
  readonly deviceAuthorization: (
    options?: TokenRequest.ScopeOptions
  ) => Effect.Effect<DeviceAuthorization.DeviceAuthorization, TokenEndpointError.DeviceAuthorizationError>
  /**
   * Polls for the device token (RFC 8628 section 3.4) every `interval`, 5 seconds slower after each
   * `slow_down`, until the user approves (a `Token`), denies (`AccessDenied`), or the device code
   * expires (`ExpiredToken`). All waiting is on `Clock`.
   */
  readonly pollDeviceToken: (
    authorization: DeviceAuthorization.DeviceAuthorization,
    options?: DeviceAuthorization.PollOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.DeviceTokenError>
  /** An extension grant (RFC 6749 section 4.5) by its grant type URI. */
  readonly grant: (
    grantType: string,
    parameters: TokenRequest.GrantParameters,
    options?: TokenRequest.ScopeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  /** Token exchange (RFC 8693). */
  readonly tokenExchange: (
    options: TokenRequest.TokenExchangeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  /** The JWT bearer grant (RFC 7523 section 2.1). */
  readonly jwtBearer: (
    assertion: Redacted.Redacted<string>,
    options?: TokenRequest.ScopeOptions
  ) => Effect.Effect<Token.Token, TokenEndpointError.GrantError>
  /** Introspection (RFC 7662). */
  readonly introspect: (
    token: Redacted.Redacted<string>,
    hint?: "access_token" | "refresh_token" | undefined
  ) => Effect.Effect<Introspection.Introspection, TokenEndpointError.IntrospectionError>
}>() {}

/**
 * Where the server is and who the client is (the same as `TokenEndpointOptions.Options`).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = TokenEndpointOptions.Options

/**
 * Options for a client whose endpoints come from the issuer's metadata (the same as
 * `TokenEndpointOptions.DiscoveryOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoveryOptions = TokenEndpointOptions.DiscoveryOptions

/**
 * Builds the service. Endpoints are checked on use: a plain-HTTP endpoint that is not a loopback
 * address fails every request with a `TransportError` (reason `Insecure`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<TokenEndpoint["Type"], never, HttpClient.HttpClient> =
  internal.make

/**
 * The options of a client whose endpoints come from `metadata`. Endpoints in `options` win; the
 * client authentication method follows the server's supported methods unless given; the issuer and
 * whether authorization responses must carry `iss` come from the metadata.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromMetadata: (
  metadata: Discovery.Metadata,
  options: DiscoveryOptions
) => Either.Either<Options, OAuthError.MalformedResponse> = internal.fromMetadata

/**
 * Builds the service from the issuer's metadata (see `Discovery.discover`), checking that the
 * metadata is the issuer's own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover: (
  options: DiscoveryOptions
) => Effect.Effect<TokenEndpoint["Type"], Discovery.DiscoveryError, HttpClient.HttpClient> = internal.discover

/**
 * The `TokenEndpoint` from explicit options, over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<TokenEndpoint, never, HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, make(options))

/**
 * The service from configuration. Read the secret with `Config.redacted` so it is never in plain view:
 *
 * ```ts
 * TokenEndpoint.layerConfig({
 *   tokenEndpoint: Config.string("OAUTH_TOKEN_ENDPOINT"),
 *   clientId: Config.string("OAUTH_CLIENT_ID"),
 *   clientSecret: Config.redacted("OAUTH_CLIENT_SECRET")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<TokenEndpoint, ConfigError.ConfigError, HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, Effect.flatMap(Config.unwrap(config), make))

/**
 * The service from the issuer's metadata.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscovery = (
  options: DiscoveryOptions
): Layer.Layer<TokenEndpoint, Discovery.DiscoveryError, HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, discover(options))

/**
 * The service from the issuer's metadata, with the issuer and client read from configuration.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscoveryConfig = (
  config: Config.Config.Wrap<DiscoveryOptions>
): Layer.Layer<TokenEndpoint, ConfigError.ConfigError | Discovery.DiscoveryError, HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint, Effect.flatMap(Config.unwrap(config), discover))
