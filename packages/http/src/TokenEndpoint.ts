/**
 * The conversation with an authorization server: every grant, revocation, introspection, the device
 * flow and discovery, with client authentication, timeouts and backoff that honours `Retry-After`.
 * Every answer is a core `Token` or a typed error.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as AuthorizationCode from "./AuthorizationCode.js"
import * as Backoff from "./Backoff.js"
import * as ClientAssertion from "./ClientAssertion.js"
import * as ClientAuthentication from "./ClientAuthentication.js"
import type * as Compliance from "./Compliance.js"
import * as DeviceAuthorization from "./DeviceAuthorization.js"
import * as Discovery from "./Discovery.js"
import * as Dpop from "./Dpop.js"
import type * as IdToken from "./IdToken.js"
import * as destination from "./internal/destination.js"
import * as idTokens from "./internal/idTokens.js"
import * as narrow from "./internal/narrow.js"
import * as params from "./internal/params.js"
import * as transport from "./internal/transport.js"
import * as Introspection from "./Introspection.js"

/**
 * What any request to the authorization server can fail with, whatever the operation: rate limiting,
 * an unavailable or failing server, a code the operation does not expect (an `UnknownOAuthError` that
 * keeps it), a 2xx that does not decode, or no answer at all.
 *
 * @since 0.1.0
 * @category errors
 */
export type RequestError =
  | OAuthError.RateLimited
  | OAuthError.ServerError
  | OAuthError.TemporarilyUnavailable
  | OAuthError.UnknownOAuthError
  | OAuthError.TransportError
  | OAuthError.MalformedResponse

/**
 * The errors a grant can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type GrantError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.InvalidGrant
  | OAuthError.UnauthorizedClient
  | OAuthError.UnsupportedGrantType
  | OAuthError.InvalidScope
  | OAuthError.InvalidTarget
  | OAuthError.AccessDenied
  | OAuthError.InteractionRequired
  | OAuthError.ConsentRequired
  | OAuthError.LoginRequired
  | OAuthError.MfaRequired
  | RequestError

/**
 * An operation needs an endpoint that was neither configured nor discovered.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingEndpoint extends Schema.TaggedError<MissingEndpoint>("@tokenfx/http/MissingEndpoint")(
  "MissingEndpoint",
  { endpoint: Schema.Literal("authorization", "revocation", "introspection", "device_authorization") }
) {
  override get message(): string {
    return `No ${this.endpoint} endpoint is configured, nor in the server's metadata`
  }
}

/**
 * The errors a revocation can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type RevocationError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.UnsupportedTokenType
  | RequestError
  | MissingEndpoint

/**
 * The errors an introspection can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type IntrospectionError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | RequestError
  | MissingEndpoint

/**
 * The errors a device authorization request can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type DeviceAuthorizationError =
  | OAuthError.InvalidRequest
  | OAuthError.InvalidClient
  | OAuthError.UnauthorizedClient
  | OAuthError.InvalidScope
  | OAuthError.InvalidTarget
  | OAuthError.AccessDenied
  | RequestError
  | MissingEndpoint

/**
 * The errors polling for a device token ends with: a grant error, `AccessDenied` when the user said
 * no, `ExpiredToken` when the device code ran out first, `InvalidIdToken` when an ID token came back
 * and failed verification. Pending and `slow_down` are handled inside.
 *
 * @since 0.1.0
 * @category errors
 */
export type DeviceTokenError = GrantError | OAuthError.ExpiredToken | IdToken.InvalidIdToken

/**
 * The errors of exchanging an authorization response: its checks, then the grant.
 *
 * @since 0.1.0
 * @category errors
 */
export type ExchangeCodeError =
  | GrantError
  | IdToken.InvalidIdToken
  | AuthorizationCode.AuthorizationError
  | AuthorizationCode.InvalidAuthorizationResponse

/**
 * Options shared by the grants that request a token for a scope or a resource.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScopeOptions {
  readonly scope?: ReadonlyArray<string> | string | undefined
  /** RFC 8707 resource indicators. */
  readonly resource?: ReadonlyArray<string> | string | undefined
  /** The `audience` parameter some servers use instead of `resource`. */
  readonly audience?: string | undefined
}

/**
 * The parameters of an extension grant. Secret values stay `Redacted`; an array repeats the parameter.
 *
 * @since 0.1.0
 * @category models
 */
export type GrantParameters = Readonly<
  Record<string, string | Redacted.Redacted<string> | ReadonlyArray<string> | undefined>
>

/**
 * The code of an authorization response and what it must be exchanged with.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationCodeOptions {
  readonly code: Redacted.Redacted<string>
  readonly verifier: Redacted.Redacted<string>
  readonly redirectUri: string
  readonly resource?: ReadonlyArray<string> | string | undefined
  /** The `nonce` sent with the authorization request, which the ID token must carry. */
  readonly nonce?: string | undefined
}

/**
 * A token exchange request (RFC 8693 section 2.1).
 *
 * @since 0.1.0
 * @category models
 */
export interface TokenExchangeOptions extends ScopeOptions {
  readonly subjectToken: Redacted.Redacted<string>
  /** Default `urn:ietf:params:oauth:token-type:access_token`. */
  readonly subjectTokenType?: string | undefined
  readonly actorToken?: Redacted.Redacted<string> | undefined
  readonly actorTokenType?: string | undefined
  readonly requestedTokenType?: string | undefined
}

/**
 * Options of `pollDeviceToken`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PollOptions {
  /** Overrides the interval the server asked for (tests, or a server known to allow it). */
  readonly interval?: Duration.DurationInput | undefined
}

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
  readonly refresh: (token: Token.Token, options?: ScopeOptions) => Effect.Effect<Token.Token, GrantError>
  /** The client credentials grant (RFC 6749 section 4.4). */
  readonly clientCredentials: (options?: ScopeOptions) => Effect.Effect<Token.Token, GrantError>
  /** Revocation (RFC 7009). */
  readonly revoke: (
    token: Redacted.Redacted<string>,
    hint?: "access_token" | "refresh_token" | undefined
  ) => Effect.Effect<void, RevocationError>
  /**
   * Starts the authorization code grant with PKCE: the URL to send the user to, with a fresh `state`
   * and S256 challenge. Keep the returned request until the redirect comes back.
   */
  readonly authorizationUrl: (
    options: AuthorizationCode.UrlOptions
  ) => Effect.Effect<AuthorizationCode.AuthorizationRequest, MissingEndpoint | OAuthError.TransportError>
  /**
   * Finishes the authorization code grant: checks the redirect's `state` and `iss` against `request`
   * and exchanges its code with the PKCE verifier.
   */
  readonly exchangeCode: (
    request: AuthorizationCode.AuthorizationRequest,
    callback: AuthorizationCode.Callback | URL | string
  ) => Effect.Effect<Token.Token, ExchangeCodeError>
  /** The authorization code grant's token request (RFC 6749 section 4.1.3, RFC 7636 section 4.5). */
  readonly authorizationCode: (
    options: AuthorizationCodeOptions
  ) => Effect.Effect<Token.Token, GrantError | IdToken.InvalidIdToken>
  /** Starts the device authorization grant (RFC 8628 section 3.1). */
  readonly deviceAuthorization: (
    options?: ScopeOptions
  ) => Effect.Effect<DeviceAuthorization.DeviceAuthorization, DeviceAuthorizationError>
  /**
   * Polls for the device token (RFC 8628 section 3.4) every `interval`, 5 seconds slower after each
   * `slow_down`, until the user approves (a `Token`), denies (`AccessDenied`), or the device code
   * expires (`ExpiredToken`). All waiting is on `Clock`.
   */
  readonly pollDeviceToken: (
    authorization: DeviceAuthorization.DeviceAuthorization,
    options?: PollOptions
  ) => Effect.Effect<Token.Token, DeviceTokenError>
  /** An extension grant (RFC 6749 section 4.5) by its grant type URI. */
  readonly grant: (
    grantType: string,
    parameters: GrantParameters,
    options?: ScopeOptions
  ) => Effect.Effect<Token.Token, GrantError>
  /** Token exchange (RFC 8693). */
  readonly tokenExchange: (options: TokenExchangeOptions) => Effect.Effect<Token.Token, GrantError>
  /** The JWT bearer grant (RFC 7523 section 2.1). */
  readonly jwtBearer: (
    assertion: Redacted.Redacted<string>,
    options?: ScopeOptions
  ) => Effect.Effect<Token.Token, GrantError>
  /** Introspection (RFC 7662). */
  readonly introspect: (
    token: Redacted.Redacted<string>,
    hint?: "access_token" | "refresh_token" | undefined
  ) => Effect.Effect<Introspection.Introspection, IntrospectionError>
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
 * Requests sent, by `operation`, `grant_type` (for token requests) and `outcome` (`success` or the
 * error code).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestsTotal = Metric.counter("tokenfx_token_endpoint_requests_total", {
  description: "Requests sent to the authorization server, by operation, grant type and outcome",
  incremental: true
})

/**
 * Retries, by `operation` and `grant_type`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retriesTotal = Metric.counter("tokenfx_token_endpoint_retries_total", {
  description: "Requests to the authorization server retried after a transient failure",
  incremental: true
})

/**
 * Request latency in milliseconds, by `operation` and `grant_type`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const requestDuration = Metric.timerWithBoundaries(
  "tokenfx_token_endpoint_request_duration",
  [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
  "Latency of requests to the authorization server"
)

// The codes each operation may fail with; a server sending any other gets an `UnknownOAuthError`.
const grantTags = [
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "InvalidGrant",
  "UnauthorizedClient",
  "UnsupportedGrantType",
  "InvalidScope",
  "InvalidTarget",
  "AccessDenied",
  "InteractionRequired",
  "ConsentRequired",
  "LoginRequired",
  "MfaRequired"
] as const
const narrowGrant = narrow.narrow(grantTags)
const narrowPoll = narrow.narrow([...grantTags, "AuthorizationPending", "SlowDown", "ExpiredToken"])
const narrowRevocation = narrow.narrow([
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "UnsupportedTokenType"
])
const narrowIntrospection = narrow.narrow([...narrow.serverTags, "InvalidRequest", "InvalidClient"])
const narrowDevice = narrow.narrow([
  ...narrow.serverTags,
  "InvalidRequest",
  "InvalidClient",
  "UnauthorizedClient",
  "InvalidScope",
  "InvalidTarget",
  "AccessDenied"
])

const grantTypes = {
  deviceCode: "urn:ietf:params:oauth:grant-type:device_code",
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange",
  jwtBearer: "urn:ietf:params:oauth:grant-type:jwt-bearer"
} as const

// A metric label must not be a server-chosen string: unknown codes share one outcome.
const outcomeOf = (error: { readonly _tag: string; readonly code: string }): string =>
  error._tag === "UnknownOAuthError" ? "unknown_error" : error.code

const decodeToken = transport.decode(Token.TokenResponse)
const decodeIntrospection = transport.decode(Introspection.Introspection)
const decodeDevice = transport.decode(DeviceAuthorization.DeviceAuthorizationResponse)

/**
 * Builds the service. Endpoints are checked on use: a plain-HTTP endpoint that is not a loopback
 * address fails every request with a `TransportError` (reason `Insecure`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<TokenEndpoint["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* HttpClient.HttpClient
    const client = options.dpop === undefined ? base : Dpop.withProofs(base, options.dpop)
    const settings = transport.settings(options)
    const policy = Backoff.policy(options.backoff)
    const authentication = ClientAuthentication.make({
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      privateKey: options.clientPrivateKey,
      method: options.clientAuthentication
    })
    // Per attempt: a JWT method signs a fresh assertion (its own jti) each time.
    const credentials = yield* ClientAssertion.make(authentication, {
      ...options.clientAssertion,
      audience: options.clientAssertion?.audience ?? options.tokenEndpoint,
      endpoint: destination.labelOf(options.tokenEndpoint)
    })
    // Masked wherever a server echoes it; the Basic header carries it only encoded.
    const clientSecret = options.clientSecret === undefined ? [] : [options.clientSecret]
    const tokenLabel = destination.labelOf(options.tokenEndpoint)
    const endpointNames = new Map<string, Compliance.Endpoint>([
      [options.deviceAuthorizationEndpoint ?? "", "device_authorization"],
      [options.introspectionEndpoint ?? "", "introspection"],
      [options.revocationEndpoint ?? "", "revocation"],
      [options.tokenEndpoint, "token"]
    ])
    // A server cannot silence an endpoint for longer than this, however far its `Retry-After` is.
    const maxCooldown = options.maxCooldown === undefined ? policy.maxElapsed : Duration.decode(options.maxCooldown)
    // One cooldown per endpoint, shared by every operation that calls it.
    const cooldowns = new Map<string, Backoff.Cooldown>()
    const verifyIdToken = yield* idTokens.make(options, settings)
    for (
      const url of [
        options.tokenEndpoint,
        options.revocationEndpoint,
        options.introspectionEndpoint,
        options.deviceAuthorizationEndpoint
      ]
    ) {
      if (url !== undefined && !cooldowns.has(url)) {
        cooldowns.set(url, yield* Backoff.makeCooldown(destination.labelOf(url), { maxCooldown }))
      }
    }

    const call = <E extends transport.Failure>(
      operation: string,
      grantType: string | undefined,
      url: string,
      form: GrantParameters,
      narrowed: (failure: transport.Failure) => E
    ): Effect.Effect<transport.Answer, E | OAuthError.RateLimited> =>
      Effect.suspend(() => {
        const labels = grantType === undefined
          ? [MetricLabel.make("operation", operation)]
          : [MetricLabel.make("operation", operation), MetricLabel.make("grant_type", grantType)]
        const duration = Metric.taggedWithLabels(requestDuration, labels)
        let attempts = 0
        let status: number | undefined
        const attempt = Effect.flatMap(Clock.currentTimeMillis, (start) => {
          attempts++
          const record = (outcome: string, seen: number | undefined) =>
            Effect.flatMap(Clock.currentTimeMillis, (end) => {
              if (seen !== undefined) status = seen
              return Effect.zipRight(
                Metric.increment(
                  Metric.taggedWithLabels(requestsTotal, [...labels, MetricLabel.make("outcome", outcome)])
                ),
                Metric.update(duration, Duration.millis(end - start))
              )
            })
          return Effect.flatMap(credentials, (credentials) =>
            transport.send(client, {
              method: "POST",
              url,
              form: { ...form, ...credentials.form },
              headers: credentials.headers,
              secrets: clientSecret,
              compliance: options.compliance === undefined
                ? undefined
                : { hooks: options.compliance, endpoint: endpointNames.get(url) ?? "token" }
            }, settings)).pipe(
              Effect.mapError(narrowed),
              Effect.tapBoth({
                onSuccess: (answer) => record("success", answer.status),
                onFailure: (error) => record(outcomeOf(error), "status" in error ? error.status : undefined)
              })
            )
        })
        return Backoff.retry(attempt, {
          policy,
          cooldown: cooldowns.get(url),
          onRetry: () => Metric.increment(Metric.taggedWithLabels(retriesTotal, labels))
        }).pipe(
          Effect.ensuring(Effect.suspend(() =>
            Effect.annotateCurrentSpan(
              status === undefined
                ? { "tokenfx.attempts": attempts }
                : { "tokenfx.attempts": attempts, "http.response.status_code": status }
            )
          ))
        )
      })

    const annotate = (url: string | undefined, grantType?: string) => {
      const host = url === undefined ? undefined : destination.hostOf(url)
      return Effect.annotateCurrentSpan({
        ...(grantType === undefined ? {} : { "oauth.grant_type": grantType }),
        ...(host === undefined ? {} : { "server.address": host })
      })
    }

    const tokenRequest = <E extends transport.Failure>(
      operation: string,
      grantType: string,
      form: GrantParameters,
      narrowed: (failure: transport.Failure) => E
    ) =>
      Effect.flatMap(
        call(operation, grantType, options.tokenEndpoint, { grant_type: grantType, ...form }, narrowed),
        decodeToken
      )

    const endpoint = <const Name extends MissingEndpoint["endpoint"]>(url: string | undefined, name: Name) =>
      url === undefined ? Effect.fail(new MissingEndpoint({ endpoint: name })) : Effect.succeed(url)

    // A grant whose answer is a fresh token, inside the caller's span (one span per public operation).
    const obtain = Effect.fnUntraced(function*(operation: string, grantType: string, parameters: GrantParameters) {
      yield* annotate(options.tokenEndpoint, grantType)
      const response = yield* tokenRequest(operation, grantType, parameters, narrowGrant)
      return yield* Token.fromResponse(response)
    })

    const codeParameters = (code: AuthorizationCodeOptions): GrantParameters => ({
      code: code.code,
      redirect_uri: code.redirectUri,
      code_verifier: code.verifier,
      ...params.scope({ resource: code.resource })
    })

    return TokenEndpoint.of({
      refresh: Effect.fn("TokenEndpoint.refresh")(function*(token: Token.Token, scope?: ScopeOptions) {
        yield* annotate(options.tokenEndpoint, "refresh_token")
        if (token.refreshToken === undefined) {
          return yield* new OAuthError.InvalidGrant({
            description: "the token has no refresh token",
            endpoint: tokenLabel
          })
        }
        const response = yield* tokenRequest("refresh", "refresh_token", {
          refresh_token: token.refreshToken,
          ...params.scope(scope)
        }, narrowGrant)
        const rotated = yield* Token.rotate(token, response)
        if (response.id_token === undefined) return rotated
        // The server has rotated the refresh token by now: failing would lose it, and with reuse
        // detection the whole grant. A refreshed ID token that does not verify is refused on its own;
        // the one verified before stands (OpenID Connect Core section 12.2).
        return yield* verifyIdToken(rotated, { previous: token }).pipe(
          Effect.catchAll((error) =>
            Effect.as(
              Effect.logWarning("TokenEndpoint.refresh: the refreshed ID token is refused", error.message),
              Token.withIdToken(rotated, token)
            )
          )
        )
      }),

      clientCredentials: Effect.fn("TokenEndpoint.clientCredentials")(function*(scope?: ScopeOptions) {
        return yield* obtain("clientCredentials", "client_credentials", params.scope(scope))
      }),

      revoke: Effect.fn("TokenEndpoint.revoke")(
        function*(token: Redacted.Redacted<string>, hint?: "access_token" | "refresh_token" | undefined) {
          yield* annotate(options.revocationEndpoint)
          const url = yield* endpoint(options.revocationEndpoint, "revocation")
          // Any 2xx is success: RFC 7009 answers 200 even for a token that was already invalid.
          yield* call("revoke", undefined, url, { token, token_type_hint: hint }, narrowRevocation)
        }
      ),

      authorizationUrl: Effect.fn("TokenEndpoint.authorizationUrl")(
        function*(urlOptions: AuthorizationCode.UrlOptions) {
          yield* annotate(options.authorizationEndpoint)
          const url = yield* endpoint(options.authorizationEndpoint, "authorization")
          const checked = yield* destination.checkEndpoint(url, settings.allowInsecure)
          return yield* AuthorizationCode.makeRequest(checked, options.clientId, urlOptions)
        }
      ),

      exchangeCode: Effect.fn("TokenEndpoint.exchangeCode")(
        function*(
          request: AuthorizationCode.AuthorizationRequest,
          callback: AuthorizationCode.Callback | URL | string
        ) {
          const parsed = typeof callback === "string" || callback instanceof URL
            ? AuthorizationCode.parseCallback(callback)
            : callback
          const code = yield* AuthorizationCode.verify(request, parsed, {
            issuer: options.issuer,
            requireIssuer: options.requireIssuer
          })
          const token = yield* obtain(
            "exchangeCode",
            "authorization_code",
            codeParameters({ code, verifier: request.verifier, redirectUri: request.redirectUri })
          )
          return yield* verifyIdToken(token, {
            nonce: request.nonce ?? null,
            code,
            maxAge: idTokens.maxAgeOf(request.url)
          })
        }
      ),

      authorizationCode: Effect.fn("TokenEndpoint.authorizationCode")(function*(code: AuthorizationCodeOptions) {
        const token = yield* obtain("authorizationCode", "authorization_code", codeParameters(code))
        return yield* verifyIdToken(token, { nonce: code.nonce ?? null, code: code.code })
      }),

      deviceAuthorization: Effect.fn("TokenEndpoint.deviceAuthorization")(function*(scope?: ScopeOptions) {
        yield* annotate(options.deviceAuthorizationEndpoint)
        const url = yield* endpoint(options.deviceAuthorizationEndpoint, "device_authorization")
        const answer = yield* call("deviceAuthorization", undefined, url, params.scope(scope), narrowDevice)
        const response = yield* decodeDevice(answer)
        const now = yield* Clock.currentTimeMillis
        return DeviceAuthorization.make(response, now)
      }),

      pollDeviceToken: Effect.fn("TokenEndpoint.pollDeviceToken")(
        function*(authorization: DeviceAuthorization.DeviceAuthorization, pollOptions?: PollOptions) {
          yield* annotate(options.tokenEndpoint, grantTypes.deviceCode)
          let interval = pollOptions?.interval === undefined
            ? authorization.interval
            : Duration.decode(pollOptions.interval)
          const expiresAt = DateTime.toEpochMillis(authorization.expiresAt)
          let polls = 0
          while (true) {
            const now = yield* Clock.currentTimeMillis
            // Wait out the interval, or until the code expires: a poll after that cannot succeed.
            yield* Effect.sleep(Duration.millis(Math.min(Duration.toMillis(interval), Math.max(0, expiresAt - now))))
            if ((yield* Clock.currentTimeMillis) >= expiresAt) {
              yield* Effect.annotateCurrentSpan("tokenfx.polls", polls)
              return yield* new OAuthError.ExpiredToken({
                description: "the device code expired before the authorization was completed",
                endpoint: tokenLabel
              })
            }
            polls++
            const result = yield* Effect.either(
              tokenRequest("pollDeviceToken", grantTypes.deviceCode, {
                device_code: authorization.deviceCode
              }, narrowPoll)
            )
            if (Either.isRight(result)) {
              yield* Effect.annotateCurrentSpan("tokenfx.polls", polls)
              // No nonce in the device flow: every other check applies.
              return yield* verifyIdToken(yield* Token.fromResponse(result.right), {})
            }
            const error = result.left
            if (error._tag === "AuthorizationPending") continue
            if (error._tag === "SlowDown") {
              // Never faster than before, whatever interval the server named.
              interval = error.interval === undefined
                ? Duration.sum(interval, DeviceAuthorization.slowDownIncrement)
                : Duration.max(interval, error.interval)
              continue
            }
            yield* Effect.annotateCurrentSpan("tokenfx.polls", polls)
            return yield* Effect.fail(error)
          }
        }
      ),

      grant: Effect.fn("TokenEndpoint.grant")(
        function*(grantType: string, parameters: GrantParameters, scope?: ScopeOptions) {
          return yield* obtain("grant", grantType, { ...parameters, ...params.scope(scope) })
        }
      ),

      tokenExchange: Effect.fn("TokenEndpoint.tokenExchange")(function*(exchange: TokenExchangeOptions) {
        return yield* obtain("tokenExchange", grantTypes.tokenExchange, {
          subject_token: exchange.subjectToken,
          subject_token_type: exchange.subjectTokenType ?? "urn:ietf:params:oauth:token-type:access_token",
          actor_token: exchange.actorToken,
          actor_token_type: exchange.actorToken === undefined ? undefined : exchange.actorTokenType,
          requested_token_type: exchange.requestedTokenType,
          ...params.scope(exchange)
        })
      }),

      jwtBearer: Effect.fn("TokenEndpoint.jwtBearer")(
        function*(assertion: Redacted.Redacted<string>, scope?: ScopeOptions) {
          return yield* obtain("jwtBearer", grantTypes.jwtBearer, { assertion, ...params.scope(scope) })
        }
      ),

      introspect: Effect.fn("TokenEndpoint.introspect")(
        function*(token: Redacted.Redacted<string>, hint?: "access_token" | "refresh_token" | undefined) {
          yield* annotate(options.introspectionEndpoint)
          const url = yield* endpoint(options.introspectionEndpoint, "introspection")
          const answer = yield* call(
            "introspect",
            undefined,
            url,
            { token, token_type_hint: hint },
            narrowIntrospection
          )
          return yield* decodeIntrospection(answer)
        }
      )
    })
  })

/**
 * The options of a client whose endpoints come from `metadata`. Endpoints in `options` win; the
 * client authentication method follows the server's supported methods unless given; the issuer and
 * whether authorization responses must carry `iss` come from the metadata.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromMetadata = (
  metadata: Discovery.Metadata,
  options: DiscoveryOptions
): Either.Either<Options, OAuthError.MalformedResponse> => {
  const tokenEndpoint = options.tokenEndpoint ?? metadata.token_endpoint
  if (tokenEndpoint === undefined) {
    return Either.left(
      new OAuthError.MalformedResponse({
        reason: "is missing",
        field: "token_endpoint",
        endpoint: Discovery.metadataUrl(options.issuer, options.discovery ?? "oauth-authorization-server")
      })
    )
  }
  const authentication = ClientAuthentication.make({
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    privateKey: options.clientPrivateKey,
    method: options.clientAuthentication,
    supported: metadata.token_endpoint_auth_methods_supported
  })
  return Either.right({
    ...options,
    tokenEndpoint,
    authorizationEndpoint: options.authorizationEndpoint ?? metadata.authorization_endpoint,
    revocationEndpoint: options.revocationEndpoint ?? metadata.revocation_endpoint,
    introspectionEndpoint: options.introspectionEndpoint ?? metadata.introspection_endpoint,
    deviceAuthorizationEndpoint: options.deviceAuthorizationEndpoint ?? metadata.device_authorization_endpoint,
    issuer: metadata.issuer,
    jwksUri: options.jwksUri ?? metadata.jwks_uri,
    requireIssuer: metadata.authorization_response_iss_parameter_supported === true,
    clientAuthentication: authentication.method
  })
}

/**
 * Builds the service from the issuer's metadata (see `Discovery.discover`), checking that the
 * metadata is the issuer's own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = (
  options: DiscoveryOptions
): Effect.Effect<TokenEndpoint["Type"], Discovery.DiscoveryError, HttpClient.HttpClient> =>
  Discovery.discover(options.issuer, {
    kind: options.discovery,
    timeout: options.timeout,
    backoff: options.backoff,
    allowInsecureHttp: options.allowInsecureHttp,
    maxBodySize: options.maxBodySize
  }).pipe(
    Effect.flatMap((metadata) => fromMetadata(metadata, options)),
    Effect.flatMap(make)
  )

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
