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
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Pkce from "@tokenfx/core/Pkce"
import * as Token from "@tokenfx/core/Token"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as Dialect from "./Dialect.js"

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
  /** Default one hour. */
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
    const server = new Server(options)
    return {
      issuer: server.issuer,
      authorizationEndpoint: server.url("authorization"),
      tokenEndpoint: server.url("token"),
      revocationEndpoint: server.url("revocation"),
      introspectionEndpoint: server.url("introspection"),
      deviceAuthorizationEndpoint: server.url("device_authorization"),
      resourceUrl: server.url("resource"),
      clients: server.clients,
      httpClient: HttpClient.make((request, url) => server.handle(request, url)),
      authorize: (request, subject = defaultSubject) =>
        server.authorize(request, subject).pipe(Effect.withSpan("AuthorizationServer.authorize")),
      approveDevice: (userCode, subject = defaultSubject) => server.decideDevice(userCode, { subject }),
      denyDevice: (userCode) => server.decideDevice(userCode, "denied"),
      issueToken: (issue = {}) => server.issueToken(issue),
      failNext: (count, failure) =>
        Effect.sync(() => {
          if (count > 0) server.failures.push({ remaining: count, failure })
        }),
      revokeAll: Effect.sync(() => server.revokeAll()),
      stats: Effect.sync(() => server.snapshot())
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

// ---------------------------------------------------------------------------------------------------
// internals
// ---------------------------------------------------------------------------------------------------

const defaultSubject = "alice"
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
const supportedGrants = ["authorization_code", "refresh_token", "client_credentials", deviceGrant]

const paths: Record<Endpoint | "authorization" | "metadata" | "openid", string> = {
  authorization: "/authorize",
  token: "/token",
  revocation: "/revoke",
  introspection: "/introspect",
  device_authorization: "/device_authorization",
  resource: "/resource",
  metadata: "/.well-known/oauth-authorization-server",
  openid: "/.well-known/openid-configuration"
}

interface Grant {
  readonly id: string
  readonly clientId: string
  readonly subject: string | undefined
  readonly scope: ReadonlyArray<string>
}

interface AccessToken {
  readonly grant: Grant
  readonly scope: ReadonlyArray<string>
  readonly issuedAt: number
  readonly expiresAt: number
}

interface RefreshToken {
  readonly grant: Grant
  readonly issuedAt: number
  readonly expiresAt: number | undefined
  consumed: boolean
  consumedAt?: number
}

interface Code {
  readonly clientId: string
  readonly subject: string
  readonly scope: ReadonlyArray<string>
  readonly redirectUri: string | undefined
  readonly challenge: string | undefined
  readonly expiresAt: number
  /** The dialect withholds a refresh token (Google without `access_type=offline`). */
  readonly offline: boolean
  /** Set once exchanged, so that a replay revokes what it gave. */
  grant: Grant | undefined
  used: boolean
}

interface DeviceCode {
  readonly clientId: string
  readonly userCode: string
  readonly scope: ReadonlyArray<string>
  readonly expiresAt: number
  interval: number
  lastPoll: number | undefined
  decision: { readonly subject: string } | "denied" | "used" | undefined
}

interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>> | undefined
}

type Form = ReadonlyMap<string, string>

class Server {
  readonly issuer: string
  readonly clients: ReadonlyArray<ClientRegistration>
  readonly failures: Array<{ remaining: number; readonly failure: Failure }> = []
  private readonly accessTtl: number
  private readonly refreshTtl: number | undefined
  private readonly codeTtl: number
  private readonly deviceTtl: number
  private readonly deviceInterval: number
  private readonly rotate: boolean
  private readonly origin: string
  private readonly dialect: Dialect.Dialect | undefined
  private readonly paths: Record<keyof typeof paths, string>
  private readonly accessTokens = new Map<string, AccessToken>()
  private readonly refreshTokens = new Map<string, RefreshToken>()
  private readonly codes = new Map<string, Code>()
  private readonly deviceCodes = new Map<string, DeviceCode>()
  private readonly counts = {
    tokenRequests: {} as Record<string, number>,
    tokensIssued: {} as Record<string, number>,
    errors: {} as Record<string, number>,
    revocationRequests: 0,
    introspectionRequests: 0,
    deviceAuthorizationRequests: 0,
    resourceRequests: 0,
    forcedFailures: 0
  }

  constructor(options: Options) {
    this.issuer = (options.issuer ?? "https://auth.test").replace(/\/+$/, "")
    this.origin = new URL(this.issuer).origin
    this.clients = options.clients ?? [confidentialClient, publicClient]
    const millis = (input: Duration.DurationInput) => Duration.toMillis(Duration.decode(input))
    this.accessTtl = millis(options.accessTokenTtl ?? "1 hour")
    this.refreshTtl = options.refreshTokenTtl === undefined ? undefined : millis(options.refreshTokenTtl)
    this.codeTtl = millis(options.authorizationCodeTtl ?? "1 minute")
    this.deviceTtl = millis(options.deviceCodeTtl ?? "10 minutes")
    this.deviceInterval = millis(options.deviceInterval ?? "5 seconds")
    this.dialect = options.dialect
    this.rotate = options.dialect?.rotate ?? options.rotateRefreshTokens ?? true
    this.paths = { ...paths, ...options.dialect?.paths }
  }

  url(endpoint: keyof typeof paths): string {
    return `${this.issuer}${this.paths[endpoint]}`
  }

  snapshot(): Stats {
    const { counts } = this
    return {
      ...counts,
      tokenRequests: { ...counts.tokenRequests },
      tokensIssued: { ...counts.tokensIssued },
      errors: { ...counts.errors }
    }
  }

  // --- the wire ------------------------------------------------------------------------------------

  handle(request: HttpClientRequest.HttpClientRequest, url: URL): Effect.Effect<HttpClientResponse.HttpClientResponse> {
    return Effect.gen(this, function*() {
      const own = this.dialect?.route?.(request, url, this.access)
      if (own !== undefined) return respond(request, yield* own)
      const endpoint = this.endpointOf(url)
      if (endpoint === undefined) {
        return respond(request, { status: 404, body: { error: "not_found" } })
      }
      if (endpoint === "metadata" || endpoint === "openid") {
        return respond(request, { status: 200, body: this.metadata() })
      }
      if (endpoint === "authorization") {
        // There is no login page: tests call `authorize`.
        return respond(request, { status: 400, body: "<html><body>use AuthorizationServer.authorize</body></html>" })
      }
      const form = endpoint === "resource" ? new Map<string, string>() : yield* readForm(request)
      const forced = this.takeFailure(endpoint, form)
      if (forced !== undefined && forced.delay !== undefined) yield* Effect.sleep(forced.delay)
      const now = yield* Clock.currentTimeMillis
      const answer = forced ?? (yield* this.route(endpoint, request, form, now))
      const shape = this.dialect?.answer
      return respond(
        request,
        shape === undefined ? answer : shape(answer, {
          endpoint,
          now,
          grantType: form?.get("grant_type"),
          accept: request.headers["accept"],
          refreshTokenTtl: this.refreshTtl
        })
      )
    })
  }

  private endpointOf(url: URL): keyof typeof paths | undefined {
    if (url.origin !== this.origin) return undefined
    const prefix = new URL(this.issuer).pathname.replace(/\/+$/, "")
    for (const [name, path] of Object.entries(this.paths)) {
      if (url.pathname === `${prefix}${path}`) return name as keyof typeof paths
    }
    return undefined
  }

  private takeFailure(endpoint: Endpoint, form: Form | undefined): Failure | undefined {
    if (endpoint === "token") this.countGrant(form)
    else this.countRequest(endpoint)
    const index = this.failures.findIndex((entry) => (entry.failure.endpoint ?? "token") === endpoint)
    if (index < 0) return undefined
    const entry = this.failures[index]!
    entry.remaining--
    if (entry.remaining <= 0) this.failures.splice(index, 1)
    this.counts.forcedFailures++
    const code = isRecord(entry.failure.body) && typeof entry.failure.body.error === "string"
      ? entry.failure.body.error
      : `http_${entry.failure.status}`
    increment(this.counts.errors, code)
    return entry.failure
  }

  private countGrant(form: Form | undefined) {
    increment(this.counts.tokenRequests, form?.get("grant_type") ?? "")
  }

  private countRequest(endpoint: Endpoint) {
    switch (endpoint) {
      case "revocation":
        this.counts.revocationRequests++
        break
      case "introspection":
        this.counts.introspectionRequests++
        break
      case "device_authorization":
        this.counts.deviceAuthorizationRequests++
        break
      case "resource":
        this.counts.resourceRequests++
        break
    }
  }

  private route(
    endpoint: Endpoint,
    request: HttpClientRequest.HttpClientRequest,
    form: Form | undefined,
    now: number
  ): Effect.Effect<Answer> {
    if (endpoint === "resource") return Effect.sync(() => this.resource(request, now))
    if (request.method !== "POST") {
      return Effect.succeed(this.error(405, "invalid_request", "use POST", { allow: "POST" }))
    }
    if (form === undefined) {
      return Effect.succeed(this.error(400, "invalid_request", "expected an application/x-www-form-urlencoded body"))
    }
    const duplicate = form.get(duplicateKey)
    if (duplicate !== undefined) {
      return Effect.succeed(this.error(400, "invalid_request", `parameter ${duplicate} is repeated`))
    }
    const client = this.authenticate(request, form)
    if (Either.isLeft(client)) return Effect.succeed(client.left)
    switch (endpoint) {
      case "token":
        return this.token(client.right, form, now)
      case "revocation":
        return Effect.sync(() => this.revoke(client.right, form))
      case "introspection":
        return Effect.sync(() => this.introspect(client.right, form, now))
      case "device_authorization":
        return Effect.sync(() => this.deviceAuthorization(client.right, form, now))
    }
  }

  private error(status: number, code: string, description: string, headers?: Record<string, string>): Answer {
    increment(this.counts.errors, code)
    return { status, body: { error: code, error_description: description }, headers }
  }

  // --- client authentication (RFC 6749 section 2.3) ------------------------------------------------

  private authenticate(
    request: HttpClientRequest.HttpClientRequest,
    form: Form
  ): Either.Either<ClientRegistration, Answer> {
    const authorization = request.headers["authorization"]
    const basic = authorization === undefined ? undefined : parseBasic(authorization)
    const unauthorized = (description: string) =>
      Either.left(
        this.error(
          401,
          "invalid_client",
          description,
          basic === undefined ? undefined : { "www-authenticate": `Basic realm="${this.issuer}"` }
        )
      )
    if (authorization !== undefined && basic === undefined) return unauthorized("malformed Basic credentials")
    if (
      basic !== undefined && (form.has("client_secret") || form.has("client_id") && form.get("client_id") !== basic.id)
    ) {
      return Either.left(this.error(400, "invalid_request", "more than one client authentication method"))
    }
    const method: AuthMethod = basic !== undefined
      ? "client_secret_basic"
      : form.has("client_secret")
      ? "client_secret_post"
      : "none"
    const clientId = basic?.id ?? form.get("client_id")
    if (clientId === undefined) return unauthorized("no client authentication")
    const client = this.clients.find((c) => c.clientId === clientId)
    if (client === undefined) return unauthorized("unknown client")
    if (!authMethodsOf(client).includes(method)) {
      return unauthorized(`client authentication ${method} is not allowed for this client`)
    }
    if (method !== "none") {
      const secret = basic?.secret ?? form.get("client_secret") ?? ""
      if (client.clientSecret === undefined || Redacted.value(client.clientSecret) !== secret) {
        return unauthorized("wrong client secret")
      }
    }
    return Either.right(client)
  }

  // --- the token endpoint --------------------------------------------------------------------------

  private token(client: ClientRegistration, form: Form, now: number): Effect.Effect<Answer> {
    const grantType = form.get("grant_type")
    if (grantType === undefined) return Effect.succeed(this.error(400, "invalid_request", "grant_type is missing"))
    if (!supportedGrants.includes(grantType)) {
      return Effect.succeed(this.error(400, "unsupported_grant_type", `grant type ${grantType} is not supported`))
    }
    if (!grantTypesOf(client).includes(grantType)) {
      return Effect.succeed(this.error(400, "unauthorized_client", `the client may not use the ${grantType} grant`))
    }
    switch (grantType) {
      case "client_credentials":
        return Effect.sync(() => this.clientCredentials(client, form, now))
      case "refresh_token":
        return Effect.sync(() => this.refresh(client, form, now))
      case "authorization_code":
        return this.exchangeCode(client, form, now)
      default:
        return Effect.sync(() => this.pollDevice(client, form, now))
    }
  }

  private clientCredentials(client: ClientRegistration, form: Form, now: number): Answer {
    const scope = this.grantedScope(client, form.get("scope"))
    if (Either.isLeft(scope)) return scope.left
    const grant: Grant = { id: randomToken("grant"), clientId: client.clientId, subject: undefined, scope: scope.right }
    return this.issued("client_credentials", this.mint(grant, scope.right, now, false))
  }

  private refresh(client: ClientRegistration, form: Form, now: number): Answer {
    const value = form.get("refresh_token")
    if (value === undefined) return this.error(400, "invalid_request", "refresh_token is missing")
    const stored = this.refreshTokens.get(value)
    if (stored === undefined) return this.error(400, "invalid_grant", "unknown or revoked refresh token")
    if (stored.grant.clientId !== client.clientId) {
      return this.error(400, "invalid_grant", "the refresh token belongs to another client")
    }
    if (stored.expiresAt !== undefined && now >= stored.expiresAt) {
      return this.error(400, "invalid_grant", "the refresh token has expired")
    }
    const reuse = this.dialect?.reuse ?? "revoke-grant"
    const graced = typeof reuse === "object" && now - (stored.consumedAt ?? now) < reuse.graceMillis
    if (stored.consumed && reuse === "refuse") {
      return this.error(400, "invalid_grant", "the refresh token was already used")
    }
    if (stored.consumed && reuse !== "allowed" && !graced) {
      // A rotated refresh token presented again: someone holds a copy, so the whole grant dies.
      this.revokeGrant(stored.grant.id)
      return this.error(400, "invalid_grant", "the refresh token was already used; the grant is revoked")
    }
    const requested = form.get("scope")
    const scope = requested === undefined ? stored.grant.scope : Token.parseScope(requested)
    if (scope.some((s) => !stored.grant.scope.includes(s))) {
      return this.error(400, "invalid_scope", "the requested scope exceeds the grant")
    }
    if (!this.rotate) return this.issued("refresh_token", this.mint(stored.grant, scope, now, false))
    if (!stored.consumed) {
      stored.consumed = true
      stored.consumedAt = now
    }
    return this.issued("refresh_token", this.mint(stored.grant, scope, now, true))
  }

  private exchangeCode(client: ClientRegistration, form: Form, now: number): Effect.Effect<Answer> {
    return Effect.gen(this, function*() {
      // The digest is the only wait: take it first, so that the checks and the use of the code below
      // run without a gap in which a concurrent exchange could use the same code.
      const verifier = form.get("code_verifier")
      const computed = verifier === undefined
        ? undefined
        : yield* Effect.option(Pkce.challenge(Redacted.make(verifier)))
      const value = form.get("code")
      if (value === undefined) return this.error(400, "invalid_request", "code is missing")
      const code = this.codes.get(value)
      if (code === undefined) return this.error(400, "invalid_grant", "unknown authorization code")
      if (code.used) {
        // A replayed code: revoke what it gave (RFC 6749 section 4.1.2).
        if (code.grant !== undefined) this.revokeGrant(code.grant.id)
        return this.error(400, "invalid_grant", "the authorization code was already used")
      }
      if (code.clientId !== client.clientId) {
        return this.error(400, "invalid_grant", "the code was issued to another client")
      }
      if (now >= code.expiresAt) return this.error(400, "invalid_grant", "the authorization code has expired")
      if (code.redirectUri !== undefined && form.get("redirect_uri") !== code.redirectUri) {
        return this.error(400, "invalid_grant", "redirect_uri does not match the authorization request")
      }
      if (code.challenge === undefined && computed !== undefined) {
        return this.error(400, "invalid_grant", "code_verifier sent for a request without code_challenge")
      }
      if (code.challenge !== undefined) {
        if (computed === undefined) return this.error(400, "invalid_grant", "code_verifier is missing")
        if (Option.isNone(computed) || computed.value !== code.challenge) {
          return this.error(400, "invalid_grant", "code_verifier does not match code_challenge")
        }
      }
      code.used = true
      const grant: Grant = {
        id: randomToken("grant"),
        clientId: client.clientId,
        subject: code.subject,
        scope: code.scope
      }
      code.grant = grant
      const withRefresh = grantTypesOf(client).includes("refresh_token") && code.offline
      return this.issued("authorization_code", this.mint(grant, code.scope, now, withRefresh))
    })
  }

  private pollDevice(client: ClientRegistration, form: Form, now: number): Answer {
    const value = form.get("device_code")
    if (value === undefined) return this.error(400, "invalid_request", "device_code is missing")
    const device = this.deviceCodes.get(value)
    if (device === undefined || device.clientId !== client.clientId) {
      return this.error(400, "invalid_grant", "unknown device code")
    }
    if (device.decision === "used") return this.error(400, "invalid_grant", "the device code was already used")
    if (now >= device.expiresAt) return this.error(400, "expired_token", "the device code has expired")
    const tooSoon = device.lastPoll !== undefined && now - device.lastPoll < device.interval
    device.lastPoll = now
    if (tooSoon) {
      // RFC 8628 section 3.5: the client must add five seconds to its interval.
      device.interval += 5000
      const slowDown = this.error(400, "slow_down", "polling too fast")
      // GitHub names the new interval; other servers' clients ignore the extra member.
      return { ...slowDown, body: { ...(slowDown.body as object), interval: device.interval / 1000 } }
    }
    if (device.decision === undefined) return this.error(400, "authorization_pending", "the user has not decided yet")
    if (device.decision === "denied") {
      device.decision = "used"
      return this.error(400, "access_denied", "the user denied the request")
    }
    const grant: Grant = {
      id: randomToken("grant"),
      clientId: client.clientId,
      subject: device.decision.subject,
      scope: device.scope
    }
    device.decision = "used"
    const withRefresh = grantTypesOf(client).includes("refresh_token")
    return this.issued(deviceGrant, this.mint(grant, device.scope, now, withRefresh))
  }

  private issued(grantType: string, body: Record<string, unknown>): Answer {
    increment(this.counts.tokensIssued, grantType)
    return { status: 200, body, headers: { "cache-control": "no-store", pragma: "no-cache" } }
  }

  private mint(grant: Grant, scope: ReadonlyArray<string>, now: number, withRefresh: boolean): Record<string, unknown> {
    const accessToken = randomToken("at")
    this.accessTokens.set(accessToken, { grant, scope, issuedAt: now, expiresAt: now + this.accessTtl })
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: "Bearer",
      expires_in: Math.round(this.accessTtl / 1000)
    }
    if (scope.length > 0) body.scope = scope.join(" ")
    if (withRefresh) {
      const refreshToken = randomToken("rt")
      this.refreshTokens.set(refreshToken, {
        grant,
        issuedAt: now,
        expiresAt: this.refreshTtl === undefined ? undefined : now + this.refreshTtl,
        consumed: false
      })
      body.refresh_token = refreshToken
      if (this.refreshTtl !== undefined) body.refresh_token_expires_in = Math.round(this.refreshTtl / 1000)
    }
    return body
  }

  private grantedScope(
    client: ClientRegistration,
    requested: string | undefined
  ): Either.Either<ReadonlyArray<string>, Answer> {
    const allowed = client.scope === undefined ? undefined : Token.parseScope(client.scope)
    if (requested === undefined) return Either.right(allowed ?? [])
    const scope = Token.parseScope(requested)
    if (allowed !== undefined && scope.some((s) => !allowed.includes(s))) {
      return Either.left(this.error(400, "invalid_scope", "the requested scope is not allowed for this client"))
    }
    return Either.right(scope)
  }

  // --- revocation, introspection, device authorization, the resource --------------------------------

  private revoke(client: ClientRegistration, form: Form): Answer {
    const value = form.get("token")
    if (value === undefined) return this.error(400, "invalid_request", "token is missing")
    const access = this.accessTokens.get(value)
    const refresh = this.refreshTokens.get(value)
    const grant = access?.grant ?? refresh?.grant
    // An unknown token is not an error (RFC 7009 section 2.2).
    if (grant === undefined) return { status: 200 }
    if (grant.clientId !== client.clientId) {
      return this.error(400, "invalid_request", "the token belongs to another client")
    }
    // A refresh token takes its grant with it; an access token goes alone.
    if (refresh !== undefined) this.revokeGrant(grant.id)
    else this.accessTokens.delete(value)
    return { status: 200 }
  }

  private introspect(client: ClientRegistration, form: Form, now: number): Answer {
    const value = form.get("token")
    if (value === undefined) return this.error(400, "invalid_request", "token is missing")
    const inactive: Answer = { status: 200, body: { active: false } }
    const access = this.accessTokens.get(value)
    if (access !== undefined) {
      if (now >= access.expiresAt || access.grant.clientId !== client.clientId) return inactive
      return {
        status: 200,
        body: this.describe(access.grant, access.scope, access.issuedAt, access.expiresAt, "access_token")
      }
    }
    const refresh = this.refreshTokens.get(value)
    if (refresh === undefined || refresh.consumed || refresh.grant.clientId !== client.clientId) return inactive
    if (refresh.expiresAt !== undefined && now >= refresh.expiresAt) return inactive
    return {
      status: 200,
      body: this.describe(refresh.grant, refresh.grant.scope, refresh.issuedAt, refresh.expiresAt, "refresh_token")
    }
  }

  private describe(
    grant: Grant,
    scope: ReadonlyArray<string>,
    issuedAt: number,
    expiresAt: number | undefined,
    kind: string
  ): Record<string, unknown> {
    return {
      active: true,
      client_id: grant.clientId,
      ...(grant.subject === undefined ? {} : { sub: grant.subject }),
      ...(scope.length > 0 ? { scope: scope.join(" ") } : {}),
      ...(kind === "access_token" ? { token_type: "Bearer" } : {}),
      iat: Math.floor(issuedAt / 1000),
      ...(expiresAt === undefined ? {} : { exp: Math.floor(expiresAt / 1000) }),
      iss: this.issuer
    }
  }

  private deviceAuthorization(client: ClientRegistration, form: Form, now: number): Answer {
    if (!grantTypesOf(client).includes(deviceGrant)) {
      return this.error(400, "unauthorized_client", "the client may not use the device flow")
    }
    const scope = this.grantedScope(client, form.get("scope"))
    if (Either.isLeft(scope)) return scope.left
    const deviceCode = randomToken("dc")
    const userCode = randomUserCode()
    this.deviceCodes.set(deviceCode, {
      clientId: client.clientId,
      userCode,
      scope: scope.right,
      expiresAt: now + this.deviceTtl,
      interval: this.deviceInterval,
      lastPoll: undefined,
      decision: undefined
    })
    const verificationUri = `${this.issuer}/device`
    return {
      status: 200,
      body: {
        device_code: deviceCode,
        user_code: userCode,
        verification_uri: verificationUri,
        verification_uri_complete: `${verificationUri}?user_code=${userCode}`,
        expires_in: Math.round(this.deviceTtl / 1000),
        interval: Math.round(this.deviceInterval / 1000)
      },
      headers: { "cache-control": "no-store" }
    }
  }

  private resource(request: HttpClientRequest.HttpClientRequest, now: number): Answer {
    const value = /^Bearer\s+(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")?.[1]
    if (value === undefined) {
      return { status: 401, headers: { "www-authenticate": `Bearer realm="${this.issuer}"` } }
    }
    const access = this.accessTokens.get(value)
    if (access === undefined || now >= access.expiresAt) {
      const description = access === undefined ? "unknown or revoked access token" : "the access token expired"
      increment(this.counts.errors, "invalid_token")
      return {
        status: 401,
        body: { error: "invalid_token", error_description: description },
        headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${description}"` }
      }
    }
    const required = Token.parseScope(new URL(request.url, this.issuer).searchParams.get("scope") ?? undefined)
    if (required.some((s) => !access.scope.includes(s))) {
      increment(this.counts.errors, "insufficient_scope")
      return {
        status: 403,
        body: { error: "insufficient_scope" },
        headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${required.join(" ")}"` }
      }
    }
    return {
      status: 200,
      body: {
        sub: access.grant.subject ?? access.grant.clientId,
        client_id: access.grant.clientId,
        scope: access.scope.join(" ")
      }
    }
  }

  private metadata(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      authorization_endpoint: this.url("authorization"),
      token_endpoint: this.url("token"),
      revocation_endpoint: this.url("revocation"),
      introspection_endpoint: this.url("introspection"),
      device_authorization_endpoint: this.url("device_authorization"),
      grant_types_supported: supportedGrants,
      response_types_supported: ["code"],
      code_challenge_methods_supported: ["S256"],
      token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"]
    }
  }

  // --- what tests call ------------------------------------------------------------------------------

  authorize(
    input: string | AuthorizationRequest,
    subject: string
  ): Effect.Effect<
    AuthorizationResponse,
    OAuthError.InvalidRequest | OAuthError.InvalidClient | OAuthError.UnauthorizedClient | OAuthError.InvalidScope
  > {
    return Effect.gen(this, function*() {
      const params = typeof input === "string" ? authorizationParams(input) : input
      const endpoint = this.url("authorization")
      if (params === undefined) return yield* new OAuthError.InvalidRequest({ description: "not a URL", endpoint })
      const client = this.clients.find((c) => c.clientId === params.client_id)
      if (client === undefined) return yield* new OAuthError.InvalidClient({ description: "unknown client", endpoint })
      if (params.response_type !== "code") {
        return yield* new OAuthError.InvalidRequest({ description: "response_type must be code", endpoint })
      }
      if (!grantTypesOf(client).includes("authorization_code")) {
        return yield* new OAuthError.UnauthorizedClient({
          description: "the client may not use the authorization code grant",
          endpoint
        })
      }
      if (client.redirectUris !== undefined && !client.redirectUris.includes(params.redirect_uri ?? "")) {
        return yield* new OAuthError.InvalidRequest({ description: "redirect_uri is not registered", endpoint })
      }
      if (params.code_challenge === undefined && client.clientSecret === undefined) {
        return yield* new OAuthError.InvalidRequest({ description: "a public client must use PKCE", endpoint })
      }
      if (params.code_challenge !== undefined && params.code_challenge_method !== "S256") {
        return yield* new OAuthError.InvalidRequest({ description: "code_challenge_method must be S256", endpoint })
      }
      const scope = this.grantedScope(client, params.scope)
      if (Either.isLeft(scope)) {
        return yield* new OAuthError.InvalidScope({
          description: "the requested scope is not allowed for this client",
          endpoint
        })
      }
      const now = yield* Clock.currentTimeMillis
      const code = randomToken("code")
      this.codes.set(code, {
        clientId: client.clientId,
        subject,
        scope: scope.right,
        redirectUri: params.redirect_uri,
        challenge: params.code_challenge,
        expiresAt: now + this.codeTtl,
        offline: typeof input !== "string" || (this.dialect?.issuesRefreshToken?.(new URL(input).searchParams) ?? true),
        grant: undefined,
        used: false
      })
      return { code, state: params.state, iss: this.issuer }
    })
  }

  decideDevice(
    userCode: string,
    decision: { readonly subject: string } | "denied"
  ): Effect.Effect<void, OAuthError.InvalidGrant | OAuthError.ExpiredToken> {
    return Effect.gen(this, function*() {
      const now = yield* Clock.currentTimeMillis
      const normalized = userCode.toUpperCase().replace(/[^A-Z]/g, "")
      const device = Array.from(this.deviceCodes.values()).find((d) => d.userCode.replace("-", "") === normalized)
      const endpoint = `${this.issuer}/device`
      if (device === undefined || device.decision !== undefined) {
        return yield* new OAuthError.InvalidGrant({ description: "unknown or already used user code", endpoint })
      }
      if (now >= device.expiresAt) {
        return yield* new OAuthError.ExpiredToken({ description: "the device code has expired", endpoint })
      }
      device.decision = decision
    })
  }

  issueToken(options: IssueOptions): Effect.Effect<Token.Token> {
    return Effect.gen(this, function*() {
      const client = options.clientId === undefined
        ? this.clients[0]
        : this.clients.find((c) => c.clientId === options.clientId)
      if (client === undefined) {
        return yield* Effect.dieMessage(`AuthorizationServer.issueToken: unknown client ${options.clientId}`)
      }
      const now = yield* Clock.currentTimeMillis
      const scope = Token.parseScope(options.scope ?? client.scope)
      const grant: Grant = {
        id: randomToken("grant"),
        clientId: client.clientId,
        subject: options.subject ?? defaultSubject,
        scope
      }
      const withRefresh = (options.refreshToken ?? true) && grantTypesOf(client).includes("refresh_token")
      const body = this.mint(grant, scope, now, withRefresh)
      return Token.make(
        {
          access_token: Redacted.make(String(body.access_token)),
          token_type: "Bearer",
          expires_in: Number(body.expires_in),
          refresh_token: withRefresh ? Redacted.make(String(body.refresh_token)) : undefined,
          scope: typeof body.scope === "string" ? body.scope : undefined,
          refresh_token_expires_in: typeof body.refresh_token_expires_in === "number"
            ? body.refresh_token_expires_in
            : undefined
        },
        now
      )
    })
  }

  revokeAll() {
    this.accessTokens.clear()
    this.refreshTokens.clear()
    this.codes.clear()
    this.deviceCodes.clear()
  }

  // What a dialect's own routes may do.
  private readonly access: Dialect.ServerAccess = {
    authenticateBasic: (authorization) => {
      const basic = authorization === undefined ? undefined : parseBasic(authorization)
      const client = basic === undefined ? undefined : this.clients.find((c) => c.clientId === basic.id)
      return client?.clientSecret !== undefined && Redacted.value(client.clientSecret) === basic?.secret
        ? client.clientId
        : undefined
    },
    revokeGrantOf: (clientId, accessToken) => {
      const access = this.accessTokens.get(accessToken)
      if (access === undefined || access.grant.clientId !== clientId) return false
      this.revokeGrant(access.grant.id)
      return true
    }
  }

  private revokeGrant(grantId: string) {
    for (const [value, token] of this.accessTokens) if (token.grant.id === grantId) this.accessTokens.delete(value)
    for (const [value, token] of this.refreshTokens) if (token.grant.id === grantId) this.refreshTokens.delete(value)
  }
}

// ---------------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------------

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const authMethodsOf = (client: ClientRegistration): ReadonlyArray<AuthMethod> =>
  client.authMethods ?? (client.clientSecret === undefined ? ["none"] : ["client_secret_basic", "client_secret_post"])

const grantTypesOf = (client: ClientRegistration): ReadonlyArray<string> =>
  client.grantTypes ??
    (client.clientSecret === undefined ? supportedGrants.filter((g) => g !== "client_credentials") : supportedGrants)

const randomToken = (prefix: string): string =>
  `${prefix}_${Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(24)))}`

// RFC 8628 section 6.1: consonants only, no ambiguous letters, as XXXX-XXXX.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"
const randomUserCode = (): string => {
  const letters = Array.from(
    globalThis.crypto.getRandomValues(new Uint8Array(8)),
    (byte) => userCodeAlphabet[byte % userCodeAlphabet.length]
  ).join("")
  return `${letters.slice(0, 4)}-${letters.slice(4)}`
}

const parseBasic = (header: string): { readonly id: string; readonly secret: string } | undefined => {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)?.[1]
  if (encoded === undefined) return undefined
  const decoded = Encoding.decodeBase64String(encoded)
  if (Either.isLeft(decoded)) return undefined
  const colon = decoded.right.indexOf(":")
  if (colon < 0) return undefined
  // RFC 6749 section 2.3.1: both parts are form-urlencoded before encoding.
  const unescape = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, " "))
    } catch {
      return undefined
    }
  }
  const id = unescape(decoded.right.slice(0, colon))
  const secret = unescape(decoded.right.slice(colon + 1))
  return id === undefined || secret === undefined ? undefined : { id, secret }
}

const authorizationParams = (url: string): AuthorizationRequest | undefined => {
  if (!URL.canParse(url)) return undefined
  const query = new URL(url).searchParams
  const get = (name: string) => query.get(name) ?? undefined
  return {
    client_id: get("client_id") ?? "",
    response_type: get("response_type"),
    redirect_uri: get("redirect_uri"),
    scope: get("scope"),
    state: get("state"),
    code_challenge: get("code_challenge"),
    code_challenge_method: get("code_challenge_method")
  }
}

// Marks a form with a repeated parameter (RFC 6749 section 3.2: parameters must not repeat).
const duplicateKey = "\u0000duplicate"

// The body of a form request, or `undefined` when the body is not a form.
const readForm = (request: HttpClientRequest.HttpClientRequest): Effect.Effect<Form | undefined> => {
  const body = request.body
  const contentType = (("contentType" in body ? body.contentType : undefined) ?? request.headers["content-type"] ?? "")
    .toLowerCase()
  const isForm = contentType.startsWith("application/x-www-form-urlencoded")
  const decode = (text: string): Form => {
    const form = new Map<string, string>()
    for (const [key, value] of new URLSearchParams(text)) {
      if (form.has(key)) form.set(duplicateKey, key)
      else form.set(key, value)
    }
    return form
  }
  switch (body._tag) {
    case "Empty":
      return Effect.succeed(request.method === "POST" ? undefined : new Map())
    case "Uint8Array":
      return Effect.succeed(isForm ? decode(new TextDecoder().decode(body.body)) : undefined)
    case "Raw":
      if (body.body instanceof URLSearchParams) return Effect.succeed(decode(body.body.toString()))
      if (typeof body.body === "string" && isForm) return Effect.succeed(decode(body.body))
      if (body.body instanceof Uint8Array && isForm) return Effect.succeed(decode(new TextDecoder().decode(body.body)))
      return Effect.succeed(undefined)
    case "FormData":
      return Effect.succeed(undefined)
    case "Stream":
      if (!isForm) return Effect.succeed(undefined)
      return body.stream.pipe(
        Stream.runCollect,
        Effect.map((chunks) => decode(new TextDecoder().decode(concat(Chunk.toReadonlyArray(chunks))))),
        Effect.orElseSucceed(() => undefined)
      )
  }
}

const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + chunk.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}

const respond = (
  request: HttpClientRequest.HttpClientRequest,
  answer: Answer
): HttpClientResponse.HttpClientResponse => {
  const headers = new Headers(answer.headers)
  let body: string | null = null
  if (typeof answer.body === "string") {
    body = answer.body
    if (!headers.has("content-type")) {
      headers.set("content-type", answer.body.trimStart().startsWith("<") ? "text/html; charset=utf-8" : "text/plain")
    }
  } else if (answer.body !== undefined) {
    body = JSON.stringify(answer.body)
    if (!headers.has("content-type")) headers.set("content-type", "application/json")
  }
  return HttpClientResponse.fromWeb(request, new Response(body, { status: answer.status, headers }))
}
