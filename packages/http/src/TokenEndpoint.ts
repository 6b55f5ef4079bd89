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
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as AuthorizationCode from "./AuthorizationCode.js"
import type * as Backoff from "./Backoff.js"
import type * as ClientAssertion from "./ClientAssertion.js"
import type * as ClientAuthentication from "./ClientAuthentication.js"
import type * as Compliance from "./Compliance.js"
import type * as DeviceAuthorization from "./DeviceAuthorization.js"
import type * as Discovery from "./Discovery.js"
import type * as Dpop from "./Dpop.js"
import type * as IdToken from "./IdToken.js"
import * as internal from "./internal/tokenEndpoint.js"
import type * as Introspection from "./Introspection.js"
import type * as TokenEndpointError from "./TokenEndpointError.js"
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
 * Where the server is and who the client is.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly tokenEndpoint: string
  readonly authorizationEndpoint?: string | undefined
  readonly revocationEndpoint?: string | undefined
  readonly introspectionEndpoint?: string | undefined
  readonly deviceAuthorizationEndpoint?: string | undefined
  /** The server's issuer: an authorization response's `iss` must equal it when both are present. */
  readonly issuer?: string | undefined
  /** Refuse authorization responses without `iss` (RFC 9207); discovery sets it from the metadata. */
  readonly requireIssuer?: boolean | undefined
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** By default `private_key_jwt` with a private key, `client_secret_basic` with a secret, `none` without. */
  readonly clientAuthentication?: ClientAuthentication.Method | undefined
  /** The client's private key for `private_key_jwt`: a private JWK (JSON) or PKCS #8 PEM. */
  readonly clientPrivateKey?: Redacted.Redacted<string> | undefined
  /** The assertions of `private_key_jwt` and `client_secret_jwt`; `aud` is the token endpoint unless given. */
  readonly clientAssertion?: Partial<ClientAssertion.Options> | undefined
  /** A DPoP key (RFC 9449): every request carries a proof, and the tokens issued are bound to it. */
  readonly dpop?: Dpop.Dpop | undefined
  /** The issuer's key set, to verify ID tokens with; by default found from the issuer's metadata. */
  readonly jwksUri?: string | undefined
  /** How ID tokens are verified; `false` keeps them unverified. On by default. */
  readonly idToken?: IdToken.Policy | false | undefined
  /** Per request, reading the body included; default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  readonly backoff?: Backoff.Options | undefined
  /** Allow plain HTTP to addresses other than loopback (tests against containers only). */
  readonly allowInsecureHttp?: boolean | undefined
  /** How to read a provider that bends the RFCs: see `Compliance` (the `Provider` profiles set it). */
  readonly compliance?: Compliance.Compliance | undefined
  /**
   * The largest body read from the server, in bytes (token, error, introspection, device and
   * metadata answers); reading stops there and the answer is refused. Default 1 MiB.
   */
  readonly maxBodySize?: number | undefined
  /**
   * The longest an endpoint stays quiet after a `Retry-After`, whatever the server asked for (the
   * error still reports the server's value). Default: the backoff's `maxElapsed` (1 minute).
   */
  readonly maxCooldown?: Duration.DurationInput | undefined
  /** The `client` label of the metrics this endpoint records (see `Telemetry`). Default: `"default"`. */
  readonly clientLabel?: string | undefined
  /**
   * The user's middleware (logging, a proxy's headers, ...), wrapped around the client that every
   * request to the authorization server goes through, discovery and key set fetches included. It sees
   * each request finished but for its DPoP proof, which is made afterwards, for the request as changed.
   */
  readonly transformClient?: ((client: HttpClient.HttpClient) => HttpClient.HttpClient) | undefined
}

/**
 * Options for a client whose endpoints come from the issuer's metadata. An endpoint given here wins
 * over the discovered one.
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoveryOptions extends Omit<Options, "tokenEndpoint" | "issuer" | "requireIssuer"> {
  readonly issuer: string
  readonly tokenEndpoint?: string | undefined
  /** Which metadata document to read; by default RFC 8414's, then OpenID Connect's. */
  readonly discovery?: Discovery.Kind | undefined
}

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
