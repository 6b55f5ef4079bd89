/**
 * An in-memory OAuth 2.0 authorization server for tests on `TestClock`, reached through the
 * `HttpClient` its layer provides (no sockets): the token endpoint (client credentials, refresh token
 * with rotation and reuse detection, authorization code with PKCE, device code), revocation
 * (RFC 7009), introspection (RFC 7662), device authorization (RFC 8628), metadata (RFC 8414) and a
 * protected resource. Every expiry reads `Clock`, so `TestClock.adjust` expires tokens.
 *
 * Tests steer it: `authorize` and `approveDevice` stand in for the user, `failNext` makes the next
 * answers fail (429 with `Retry-After`, 503, an HTML 500, a slow answer), `revokeAll` kills every
 * grant, and `stats` counts what the client did.
 *
 * @example
 * ```ts
 * import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
 * import * as Effect from "effect/Effect"
 * import * as TestClock from "effect/TestClock"
 *
 * // in an `it.effect` test, on TestClock
 * export const test = Effect.gen(function*() {
 *   const server = yield* AuthorizationServer.AuthorizationServer
 *   yield* server.issueToken() // hand it to the code under test, which uses the provided HttpClient
 *   yield* TestClock.adjust("1 hour")
 *   const stats = yield* server.stats
 *   return stats.tokensIssued.refresh_token // 1 if the code refreshed the expired token
 * }).pipe(Effect.provide(AuthorizationServer.layer({ accessTokenTtl: "1 hour" })))
 * ```
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Dialect from "./Dialect.js"
import * as AuthorizationCode from "./internal/authorizationServer/authorizationCode.js"
import * as ClientAuthentication from "./internal/authorizationServer/clientAuthentication.js"
import * as DeviceFlow from "./internal/authorizationServer/deviceFlow.js"
import * as Faults from "./internal/authorizationServer/faults.js"
import * as Routing from "./internal/authorizationServer/routing.js"
import * as State from "./internal/authorizationServer/state.js"
import * as Tokens from "./internal/authorizationServer/tokens.js"

/**
 * A client the server knows. Without a secret it is a public client (`none` authentication, PKCE
 * required).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientRegistration {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** Accepted authentication methods; default `client_secret_basic` and `client_secret_post`, or `none` when public. */
  readonly authMethods?: ReadonlyArray<AuthMethod> | undefined
  /** Allowed grant types; default every supported one (`client_credentials` only for confidential clients). */
  readonly grantTypes?: ReadonlyArray<string> | undefined
  /** Allowed scopes (space-delimited), also the scope granted when none is requested; default any. */
  readonly scope?: string | undefined
  /** Registered redirect URIs; default any. */
  readonly redirectUris?: ReadonlyArray<string> | undefined
}

/**
 * How a registered client authenticates.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthMethod = "client_secret_basic" | "client_secret_post" | "none"

/**
 * The confidential client registered by default: `client` / `secret`, basic or post.
 *
 * @since 0.1.0
 * @category constructors
 */
export const confidentialClient: ClientRegistration = { clientId: "client", clientSecret: Redacted.make("secret") }

/**
 * The public client registered by default: `public-client`, no secret, PKCE required.
 *
 * @since 0.1.0
 * @category constructors
 */
export const publicClient: ClientRegistration = { clientId: "public-client" }

/**
 * The server's settings: its issuer, clients, token and code lifetimes, and refresh token rotation.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `https://auth.test`; its endpoints are paths under it. */
  readonly issuer?: string | undefined
  /** Default `[confidentialClient, publicClient]`. */
  readonly clients?: ReadonlyArray<ClientRegistration> | undefined
  /**
   * Default one hour. `Duration.infinity`: access tokens never expire and responses carry no
   * `expires_in` (it is only recommended, RFC 6749 section 5.1).
   */
  readonly accessTokenTtl?: Duration.DurationInput | undefined
  /** Default none: refresh tokens never expire. When set, responses carry `refresh_token_expires_in`. */
  readonly refreshTokenTtl?: Duration.DurationInput | undefined
  /** Default one minute. */
  readonly authorizationCodeTtl?: Duration.DurationInput | undefined
  /** Default ten minutes. */
  readonly deviceCodeTtl?: Duration.DurationInput | undefined
  /** The device flow's polling interval, default five seconds; polling faster answers `slow_down`. */
  readonly deviceInterval?: Duration.DurationInput | undefined
  /**
   * Default true: each refresh issues a new refresh token, and reusing a rotated one revokes the whole
   * grant. When false, refresh responses omit `refresh_token` and the old one stays valid.
   */
  readonly rotateRefreshTokens?: boolean | undefined
  /**
   * How long every answer takes, on `Clock` (default none): a slow server, so that requests overlap
   * on `TestClock` and a test can act while one is on the wire. A forced answer's `delay` adds to it.
   */
  readonly latency?: Duration.DurationInput | undefined
  /** Answer like a provider (paths, answer and error shapes, rotation, headers): see `Dialect`. */
  readonly dialect?: Dialect.Dialect | undefined
}

/**
 * An answer forced by `failNext`. A string body is sent as is (`text/html` when it starts with `<`),
 * anything else as JSON; without a body the answer is empty.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure {
  readonly status: number
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** Wait this long (on `Clock`) before answering: a slow server, for timeout tests. */
  readonly delay?: Duration.DurationInput | undefined
  /** Which endpoint fails; default `token`. */
  readonly endpoint?: Endpoint | undefined
}

/**
 * The endpoints the server answers on.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "token" | "revocation" | "introspection" | "device_authorization" | "resource"

/**
 * An authorization request, as the query of an authorization URL.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationRequest {
  readonly client_id: string
  readonly response_type?: string | undefined
  readonly redirect_uri?: string | undefined
  readonly scope?: string | undefined
  readonly state?: string | undefined
  readonly code_challenge?: string | undefined
  readonly code_challenge_method?: string | undefined
}

/**
 * The parameters of the redirect back to the client.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationResponse {
  readonly code: string
  readonly state?: string | undefined
  readonly iss: string
}

/**
 * Counters since the server was made.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Every token request by `grant_type` (`""` when it is missing), failed and forced ones included. */
  readonly tokenRequests: Readonly<Record<string, number>>
  /** Successful token responses by `grant_type`. */
  readonly tokensIssued: Readonly<Record<string, number>>
  /** Error answers by OAuth error code, on every endpoint; forced answers without a code as `http_<status>`. */
  readonly errors: Readonly<Record<string, number>>
  readonly revocationRequests: number
  readonly introspectionRequests: number
  readonly deviceAuthorizationRequests: number
  readonly resourceRequests: number
  /** Answers forced by `failNext`. */
  readonly forcedFailures: number
}

/**
 * Options of `issue`: for which client and subject, with which scope, with or without a refresh token.
 *
 * @since 0.1.0
 * @category models
 */
export interface IssueOptions {
  /** Default the first registered client. */
  readonly clientId?: string | undefined
  /** Default `alice`. */
  readonly subject?: string | undefined
  readonly scope?: string | undefined
  /** Default true (when the client may use the refresh token grant). */
  readonly refreshToken?: boolean | undefined
}

/**
 * An in-memory OAuth 2.0 authorization server and resource server, answering through an `HttpClient`.
 *
 * @since 0.1.0
 * @category tags
 */
export class AuthorizationServer extends Context.Tag("@tokenfx/testing/AuthorizationServer")<AuthorizationServer, {
  readonly issuer: string
  readonly authorizationEndpoint: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string
  readonly introspectionEndpoint: string
  readonly deviceAuthorizationEndpoint: string
  /**
   * `GET` with a valid bearer access token answers 200 JSON `{ sub, client_id, scope }`; an invalid or
   * expired one 401 with `WWW-Authenticate: Bearer error="invalid_token"`; a `scope` query parameter
   * names scopes the token must carry, else 403 `insufficient_scope`.
   */
  readonly resourceUrl: string
  readonly clients: ReadonlyArray<ClientRegistration>
  /** The client that reaches this server (and answers 404 for any other origin). */
  readonly httpClient: HttpClient.HttpClient
  /**
   * The user logs in and consents: validates an authorization request (a URL or its parameters) and
   * returns the code that the redirect would carry.
   */
  readonly authorize: (
    request: string | AuthorizationRequest,
    subject?: string
  ) => Effect.Effect<
    AuthorizationResponse,
    OAuthError.InvalidRequest | OAuthError.InvalidClient | OAuthError.UnauthorizedClient | OAuthError.InvalidScope
  >
  /** The user approves a pending device authorization. */
  readonly approveDevice: (
    userCode: string,
    subject?: string
  ) => Effect.Effect<void, OAuthError.InvalidGrant | OAuthError.ExpiredToken>
  /** The user denies a pending device authorization. */
  readonly denyDevice: (userCode: string) => Effect.Effect<void, OAuthError.InvalidGrant | OAuthError.ExpiredToken>
  /** A new grant issued directly, as if the authorization code flow had just completed. */
  readonly issueToken: (options?: IssueOptions) => Effect.Effect<Token.Token>
  /** The next `count` requests to `failure.endpoint` (default the token endpoint) get this answer. */
  readonly failNext: (count: number, failure: Failure) => Effect.Effect<void>
  /** Revokes every grant, token and pending code. */
  readonly revokeAll: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
}>() {}

/**
 * Makes a server. Its state lives as long as the returned service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<AuthorizationServer["Type"]> =>
  Effect.sync(() => {
    const clients = options.clients ?? [confidentialClient, publicClient]
    const state = State.make(resolve(options, clients))
    return {
      issuer: state.config.issuer,
      authorizationEndpoint: State.url(state, "authorization"),
      tokenEndpoint: State.url(state, "token"),
      revocationEndpoint: State.url(state, "revocation"),
      introspectionEndpoint: State.url(state, "introspection"),
      deviceAuthorizationEndpoint: State.url(state, "device_authorization"),
      resourceUrl: State.url(state, "resource"),
      clients,
      httpClient: HttpClient.make((request, url) => Routing.handle(state, request, url)),
      authorize: (request, subject = defaultSubject) =>
        AuthorizationCode.authorize(state, typeof request === "string" ? request : query(request), subject).pipe(
          Effect.withSpan("AuthorizationServer.authorize")
        ),
      approveDevice: (userCode, subject = defaultSubject) => DeviceFlow.decide(state, userCode, { subject }),
      denyDevice: (userCode) => DeviceFlow.decide(state, userCode, "denied"),
      issueToken: (issue = {}) => issueToken(state, issue),
      failNext: (count, failure) =>
        Effect.sync(() =>
          Faults.push(state, {
            remaining: count,
            endpoint: failure.endpoint ?? "token",
            answer: { status: failure.status, body: failure.body, headers: failure.headers },
            delay: failure.delay
          })
        ),
      revokeAll: Effect.sync(() => State.revokeAll(state)),
      stats: Effect.sync(() => stats(state.counters))
    }
  })

/**
 * The server and its `HttpClient`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<AuthorizationServer | HttpClient.HttpClient> =>
  Layer.effectContext(
    Effect.map(
      make(options),
      (server) => Context.make(AuthorizationServer, server).pipe(Context.add(HttpClient.HttpClient, server.httpClient))
    )
  )

const defaultSubject = "alice"

const millis = (input: Duration.DurationInput): number => Duration.toMillis(Duration.decode(input))

const resolve = (options: Options, clients: ReadonlyArray<ClientRegistration>): State.Config => {
  const issuer = (options.issuer ?? "https://auth.test").replace(/\/+$/, "")
  return {
    issuer,
    origin: new URL(issuer).origin,
    clients: clients.map(ClientAuthentication.client),
    accessTtl: millis(options.accessTokenTtl ?? "1 hour"),
    refreshTtl: options.refreshTokenTtl === undefined ? undefined : millis(options.refreshTokenTtl),
    codeTtl: millis(options.authorizationCodeTtl ?? "1 minute"),
    deviceTtl: millis(options.deviceCodeTtl ?? "10 minutes"),
    deviceInterval: millis(options.deviceInterval ?? "5 seconds"),
    latency: options.latency === undefined ? undefined : Duration.decode(options.latency),
    rotate: options.dialect?.rotate ?? options.rotateRefreshTokens ?? true,
    dialect: options.dialect,
    paths: { ...Routing.defaultPaths, ...options.dialect?.paths }
  }
}

const query = (request: AuthorizationRequest): URLSearchParams => {
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(request)) {
    if (typeof value === "string") params.set(name, value)
  }
  return params
}

const issueToken = (state: State.State, options: IssueOptions): Effect.Effect<Token.Token> =>
  Effect.gen(function*() {
    const client = options.clientId === undefined
      ? state.config.clients[0]
      : State.findClient(state, options.clientId)
    if (client === undefined) {
      return yield* Effect.dieMessage(`AuthorizationServer.issueToken: unknown client ${options.clientId}`)
    }
    const now = yield* Clock.currentTimeMillis
    return Tokens.issue(state, {
      client,
      subject: options.subject ?? defaultSubject,
      scope: options.scope,
      refreshToken: options.refreshToken ?? true,
      now
    })
  })

const stats = (counters: State.Counters): Stats => ({
  tokenRequests: { ...counters.tokenRequests },
  tokensIssued: { ...counters.tokensIssued },
  errors: { ...counters.errors },
  revocationRequests: counters.requests["revocation"] ?? 0,
  introspectionRequests: counters.requests["introspection"] ?? 0,
  deviceAuthorizationRequests: counters.requests["device_authorization"] ?? 0,
  resourceRequests: counters.requests["resource"] ?? 0,
  forcedFailures: counters.forcedFailures
})
