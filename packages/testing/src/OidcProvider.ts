/**
 * A real OpenID Connect authorization server (`oidc-provider`) started in-process on 127.0.0.1 for
 * integration tests: confidential and public clients, authorization code with PKCE, client
 * credentials, device flow, refresh token rotation with reuse detection, revocation, introspection
 * and a protected resource, with login, consent and device approval driven programmatically.
 *
 * `oidc-provider` is an optional peer dependency, so this module is not part of the package barrel:
 * import it as `@tokenfx/testing/OidcProvider`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider from "oidc-provider"
import type {
  AccessToken,
  Adapter,
  AdapterPayload,
  Client as ProviderClient,
  ClientCredentials,
  Configuration,
  KoaContextWithOIDC,
  RefreshToken
} from "oidc-provider"

/**
 * The provider's settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Access token lifetime in seconds (also for client credentials tokens), default 60. */
  readonly accessTokenTtl?: number | undefined
  /** Refresh token lifetime in seconds, default 3600. */
  readonly refreshTokenTtl?: number | undefined
  /** Device code lifetime in seconds, default 600. */
  readonly deviceCodeTtl?: number | undefined
  /**
   * Whether every refresh rotates the refresh token, default true. Reusing a rotated refresh token
   * revokes the whole grant.
   */
  readonly rotateRefreshToken?: boolean | undefined
  /** The port to listen on, default 0 (a random free port); the host is always 127.0.0.1. */
  readonly port?: number | undefined
  /**
   * The secret of the `basic` and `post` clients, e.g. one with characters that need encoding
   * (`sp3c!al:secret+/=?&%~`); by default a random one per start.
   */
  readonly clientSecret?: Redacted.Redacted<string> | string | undefined
  /**
   * Whether every DPoP proof (RFC 9449) must carry a server nonce: the first proof without one is
   * answered with `use_dpop_nonce` and a `DPoP-Nonce` header. Default false.
   */
  readonly requireDpopNonce?: boolean | undefined
}

/**
 * A client registered with the provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /** The `private_key_jwt` client's ES256 signing key: a private JWK as JSON. */
  readonly privateKeyJwk?: Redacted.Redacted<string> | undefined
  /** The same key as PKCS #8 PEM. */
  readonly privateKeyPem?: Redacted.Redacted<string> | undefined
}

/**
 * Counters since start, read live.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  /** Successful token endpoint grants by `grant_type` (the device grant under its full URN). */
  readonly tokenRequests: Readonly<Record<string, number>>
  /** Token endpoint errors by error code (`invalid_grant`, `invalid_client`, `authorization_pending`, ...). */
  readonly grantErrors: Readonly<Record<string, number>>
  /** Requests to `resourceUrl`, whatever their outcome. */
  readonly resourceRequests: number
  /** Requests to the revocation endpoint. */
  readonly revocationRequests: number
  /** Requests to the introspection endpoint. */
  readonly introspectionRequests: number
}

/**
 * A running oidc-provider on 127.0.0.1: its issuer, endpoints, resource URL, redirect URI and clients.
 *
 * @since 0.1.0
 * @category models
 */
export interface OidcServer {
  /** `http://127.0.0.1:<port>`; discovery at `issuer + "/.well-known/openid-configuration"`. */
  readonly issuer: string
  readonly tokenEndpoint: string
  readonly authorizationEndpoint: string
  readonly revocationEndpoint: string
  readonly introspectionEndpoint: string
  readonly deviceAuthorizationEndpoint: string
  /** The server's signing keys (ID tokens are ES256). */
  readonly jwksUri: string
  /** OpenID Connect UserInfo; accepts Bearer and DPoP-bound access tokens (with their proof). */
  readonly userinfoEndpoint: string
  /**
   * A protected resource: `GET` with a valid bearer access token answers 200 JSON
   * `{ sub, client_id, scope }`; otherwise 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
   * A `scope` query parameter (space-delimited) names scopes the token must carry, else 403 with
   * `WWW-Authenticate: Bearer error="insufficient_scope"`.
   */
  readonly resourceUrl: string
  /** Registered for the authorization code clients; answers 200 to whoever follows the redirect. */
  readonly redirectUri: string
  readonly clients: {
    /** Confidential, `client_secret_basic`: authorization_code, refresh_token, client_credentials, device_code. */
    readonly basic: Client
    /** Confidential, `client_secret_post`: the same grants. */
    readonly post: Client
    /** Public (`none`, PKCE required): authorization_code, refresh_token, device_code. */
    readonly public: Client
    /**
     * A public native app (RFC 8252): like `public`, its redirect URI `http://127.0.0.1/callback` on
     * any port, as a loopback redirect listener chooses.
     */
    readonly native: Client
    /** Confidential, `private_key_jwt` (RFC 7523) with an ES256 key: the confidential grants. */
    readonly privateKeyJwt: Client
    /** Confidential, `client_secret_jwt` (HS256 with its secret): the confidential grants. */
    readonly secretJwt: Client
  }
  readonly stats: Effect.Effect<Stats>
  /**
   * Completes the login and consent for an authorization URL built by the client (following
   * oidc-provider's interaction URLs programmatically) and returns the parameters of the final
   * redirect to the request's `redirect_uri`. Dies when the server answers with an error instead.
   */
  readonly authorize: (
    authorizationUrl: string,
    accountId?: string
  ) => Effect.Effect<{ readonly code: string; readonly state?: string | undefined; readonly iss?: string | undefined }>
  /** Approves a pending device authorization by its user code, as the user would in a browser. */
  readonly approveDevice: (userCode: string, accountId?: string) => Effect.Effect<void>
  /** Denies a pending device authorization. */
  readonly denyDevice: (userCode: string) => Effect.Effect<void>
  /** Revokes every grant of an account server-side (as an admin would), so its refresh tokens stop working. */
  readonly revokeGrants: (accountId?: string) => Effect.Effect<void>
  /**
   * Forgets the access tokens of an account, leaving its grants and refresh tokens alone, as a server
   * that lost its token cache or rotated its keys would: the resource answers 401 to them, and a
   * refresh gets new ones.
   */
  readonly invalidateAccessTokens: (accountId?: string) => Effect.Effect<void>
  /**
   * Rate-limits the token endpoint: its next `requests` requests are answered HTTP 429 with
   * `Retry-After: <retryAfter>` (seconds) and `{"error":"rate_limited"}`, counted in
   * `grantErrors.rate_limited`, before oidc-provider sees them.
   */
  readonly rateLimitTokenEndpoint: (requests: number, retryAfter: number) => Effect.Effect<void>
  /**
   * Rotates the server's signing key: a new key signs from now on and is published first in the key
   * set, beside the previous one. Grants, sessions and tokens survive.
   */
  readonly rotateSigningKey: Effect.Effect<void>
}

/**
 * The running provider as a service.
 *
 * @since 0.1.0
 * @category tags
 */
export class OidcProvider extends Context.Tag("@tokenfx/testing/OidcProvider")<OidcProvider, OidcServer>() {}

const defaultAccount = "alice"
const scopes = ["openid", "offline_access", "api:read", "api:write"]
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
const confidentialGrants = ["authorization_code", "refresh_token", "client_credentials", deviceGrant]
const publicGrants = ["authorization_code", "refresh_token", deviceGrant]
// The account an interaction logs in: sent by `authorize` and `approveDevice` to the interaction route.
const accountHeader = "x-tokenfx-account"

const routes = {
  authorization: "/auth",
  token: "/token",
  revocation: "/token/revocation",
  introspection: "/token/introspection",
  device_authorization: "/device/auth",
  code_verification: "/device",
  jwks: "/jwks",
  userinfo: "/me"
} as const

/**
 * Starts the server on 127.0.0.1 (a random port unless `options.port`); it closes with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<OidcServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let jwks = yield* Effect.promise(signingKeys)
    const clientKey = yield* Effect.promise(clientSigningKey)
    const cookieKey = randomHex(32)
    const chosen = options.clientSecret === undefined
      ? undefined
      : Redacted.isRedacted(options.clientSecret)
      ? Redacted.value(options.clientSecret)
      : options.clientSecret
    const secrets = {
      basic: chosen ?? randomHex(24),
      post: chosen ?? randomHex(24),
      secretJwt: randomHex(32),
      clientJwk: clientKey.publicJwk
    }

    let route: Http.RequestListener = (_req, res) => {
      res.statusCode = 503
      res.end()
    }
    const server = yield* listen(options.port ?? 0, (req, res) => route(req, res))
    const port = (server.address() as AddressInfo).port
    const issuer = `http://127.0.0.1:${port}`
    const redirectUri = `${issuer}/callback`
    const resourceUrl = `${issuer}/resource`

    const store = new Map<string, AdapterPayload>()
    const dpopNonceSecret = globalThis.crypto.getRandomValues(new Uint8Array(32))
    const build = () =>
      new Provider(
        issuer,
        configuration({
          options,
          jwks,
          cookieKey,
          redirectUri,
          secrets,
          dpopNonceSecret,
          adapter: memoryAdapter(store)
        })
      )
    let provider = build()

    const stats = {
      tokenRequests: {} as Record<string, number>,
      grantErrors: {} as Record<string, number>,
      resourceRequests: 0,
      revocationRequests: 0,
      introspectionRequests: 0
    }
    const increment = (counts: Record<string, number>, key: string) => {
      counts[key] = (counts[key] ?? 0) + 1
    }
    const observe = (provider: Provider) => {
      provider.on("grant.success", (ctx: KoaContextWithOIDC) => {
        increment(stats.tokenRequests, String(ctx.oidc.params?.grant_type ?? "unknown"))
      })
      provider.on("grant.error", (_ctx: KoaContextWithOIDC, error: { readonly error?: string }) => {
        increment(stats.grantErrors, error.error ?? "unknown")
      })
      // A server error is not reported as `grant.error`, even on the token endpoint.
      provider.on("server_error", (ctx: KoaContextWithOIDC) => {
        if (ctx.oidc?.route === "token") increment(stats.grantErrors, "server_error")
      })
    }
    observe(provider)

    let rateLimited = { requests: 0, retryAfter: 0 }
    let providerCallback = provider.callback()
    route = (req, res) => {
      const path = new URL(req.url ?? "/", issuer).pathname
      const fail = (cause: unknown) => {
        res.statusCode = 500
        res.end(cause instanceof Error ? cause.message : "internal error")
      }
      if (path.startsWith("/interaction/")) {
        interaction(provider, req, res).catch(fail)
      } else if (path === "/resource") {
        stats.resourceRequests++
        resource(provider, req, res).catch(fail)
      } else if (path === "/callback") {
        res.setHeader("content-type", "text/plain")
        res.end("authorization response received")
      } else if (path === routes.token && rateLimited.requests > 0) {
        rateLimited.requests--
        increment(stats.grantErrors, "rate_limited")
        req.resume()
        res.statusCode = 429
        res.setHeader("retry-after", String(rateLimited.retryAfter))
        res.setHeader("content-type", "application/json")
        res.end(JSON.stringify({ error: "rate_limited", error_description: "too many requests" }))
      } else {
        if (path === routes.revocation) stats.revocationRequests++
        if (path === routes.introspection) stats.introspectionRequests++
        void providerCallback(req, res)
      }
    }

    const authorize = (authorizationUrl: string, accountId = defaultAccount) =>
      Effect.gen(function*() {
        const expected = new URL(authorizationUrl).searchParams.get("redirect_uri") ?? redirectUri
        const final = yield* browse(new CookieJar(), accountId, { url: authorizationUrl }, expected)
        const params = new URL(final.location!).searchParams
        const error = params.get("error")
        if (error !== null) {
          return yield* Effect.dieMessage(
            `OidcProvider.authorize: the server answered ${error}: ${params.get("error_description") ?? ""}`
          )
        }
        const code = params.get("code")
        if (code === null) {
          return yield* Effect.dieMessage(`OidcProvider.authorize: no code in the redirect to ${expected}`)
        }
        return { code, state: params.get("state") ?? undefined, iss: params.get("iss") ?? undefined }
      }).pipe(Effect.withSpan("OidcProvider.authorize"))

    // The device flow as a browser runs it: the user code page (which sets the session and its xsrf
    // secret), then the form, then login and consent, to the success page.
    const deviceForm = (userCode: string, accountId: string, decision: "confirm" | "abort") =>
      Effect.gen(function*() {
        const jar = new CookieJar()
        const page = yield* browse(jar, accountId, { url: `${issuer}${routes.code_verification}` })
        const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.body)?.[1]
        if (xsrf === undefined) return yield* Effect.dieMessage("OidcProvider: the device page has no xsrf field")
        const done = yield* browse(jar, accountId, {
          url: `${issuer}${routes.code_verification}`,
          form: { xsrf, user_code: userCode, [decision]: "yes" }
        })
        return /data-outcome="([^"]*)"/.exec(done.body)?.[1] ?? `status ${done.status}`
      })

    const approveDevice = (userCode: string, accountId = defaultAccount) =>
      deviceForm(userCode, accountId, "confirm").pipe(
        Effect.flatMap((outcome) =>
          outcome === "approved"
            ? Effect.void
            : Effect.dieMessage(`OidcProvider.approveDevice: the device authorization failed (${outcome})`)
        ),
        Effect.withSpan("OidcProvider.approveDevice")
      )

    const denyDevice = (userCode: string) =>
      deviceForm(userCode, defaultAccount, "abort").pipe(
        Effect.flatMap((outcome) =>
          outcome === "AbortedError"
            ? Effect.void
            : Effect.dieMessage(`OidcProvider.denyDevice: the device authorization was not denied (${outcome})`)
        ),
        Effect.withSpan("OidcProvider.denyDevice")
      )

    const revokeGrants = (accountId = defaultAccount) =>
      Effect.sync(() => {
        const grants = new Set<string>()
        for (const [key, payload] of store) {
          if (key.startsWith("Grant:") && payload.accountId === accountId && typeof payload.jti === "string") {
            grants.add(payload.jti)
          }
        }
        for (const [key, payload] of store) {
          const grantId = key.startsWith("Grant:") ? payload.jti : payload.grantId
          if (typeof grantId === "string" && grants.has(grantId)) store.delete(key)
        }
      }).pipe(Effect.withSpan("OidcProvider.revokeGrants"))

    const invalidateAccessTokens = (accountId = defaultAccount) =>
      Effect.sync(() => {
        for (const [key, payload] of store) {
          if (key.startsWith("AccessToken:") && payload.accountId === accountId) store.delete(key)
        }
      }).pipe(Effect.withSpan("OidcProvider.invalidateAccessTokens"))

    const rateLimitTokenEndpoint = (requests: number, retryAfter: number) =>
      Effect.sync(() => {
        rateLimited = { requests, retryAfter }
      })
    const rotateSigningKey = Effect.promise(signingKeys).pipe(
      Effect.map((next) => {
        jwks = { keys: [...next.keys, ...jwks.keys] }
        provider = build()
        observe(provider)
        providerCallback = provider.callback()
      }),
      Effect.withSpan("OidcProvider.rotateSigningKey")
    )

    return {
      issuer,
      tokenEndpoint: `${issuer}${routes.token}`,
      authorizationEndpoint: `${issuer}${routes.authorization}`,
      revocationEndpoint: `${issuer}${routes.revocation}`,
      introspectionEndpoint: `${issuer}${routes.introspection}`,
      deviceAuthorizationEndpoint: `${issuer}${routes.device_authorization}`,
      jwksUri: `${issuer}${routes.jwks}`,
      userinfoEndpoint: `${issuer}${routes.userinfo}`,
      resourceUrl,
      redirectUri,
      clients: {
        basic: { clientId: "tokenfx-basic", clientSecret: Redacted.make(secrets.basic) },
        post: { clientId: "tokenfx-post", clientSecret: Redacted.make(secrets.post) },
        public: { clientId: "tokenfx-public", clientSecret: undefined },
        native: { clientId: "tokenfx-native", clientSecret: undefined },
        privateKeyJwt: {
          clientId: "tokenfx-private-key-jwt",
          privateKeyJwk: Redacted.make(clientKey.privateJwk),
          privateKeyPem: Redacted.make(clientKey.privatePem)
        },
        secretJwt: { clientId: "tokenfx-secret-jwt", clientSecret: Redacted.make(secrets.secretJwt) }
      },
      stats: Effect.sync((): Stats => ({
        tokenRequests: { ...stats.tokenRequests },
        grantErrors: { ...stats.grantErrors },
        resourceRequests: stats.resourceRequests,
        revocationRequests: stats.revocationRequests,
        introspectionRequests: stats.introspectionRequests
      })),
      authorize,
      approveDevice,
      denyDevice,
      revokeGrants,
      invalidateAccessTokens,
      rateLimitTokenEndpoint,
      rotateSigningKey
    } satisfies OidcServer
  })

/**
 * The server as a layer, closed when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<OidcProvider> => Layer.scoped(OidcProvider, make(options))

// ---------------------------------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------------------------------

const configuration = (input: {
  readonly options: Options
  readonly jwks: { keys: Array<JsonWebKey & { kid: string }> }
  readonly cookieKey: string
  readonly redirectUri: string
  readonly secrets: {
    readonly basic: string
    readonly post: string
    readonly secretJwt: string
    readonly clientJwk: JsonWebKey
  }
  readonly dpopNonceSecret: Uint8Array
  readonly adapter: (name: string) => Adapter
}): Configuration => {
  const { options, redirectUri, secrets } = input
  const accessTokenTtl = options.accessTokenTtl ?? 60
  const refreshTokenTtl = options.refreshTokenTtl ?? 3600
  const longLived = Math.max(refreshTokenTtl, 14 * 24 * 60 * 60)
  const confidential = {
    grant_types: confidentialGrants,
    redirect_uris: [redirectUri],
    response_types: ["code" as const],
    scope: scopes.join(" ")
  }
  return {
    adapter: input.adapter,
    jwks: input.jwks as Configuration["jwks"],
    cookies: { keys: [input.cookieKey] },
    clients: [
      {
        ...confidential,
        client_id: "tokenfx-basic",
        client_secret: secrets.basic,
        token_endpoint_auth_method: "client_secret_basic"
      },
      {
        ...confidential,
        client_id: "tokenfx-post",
        client_secret: secrets.post,
        token_endpoint_auth_method: "client_secret_post"
      },
      {
        ...confidential,
        client_id: "tokenfx-private-key-jwt",
        token_endpoint_auth_method: "private_key_jwt",
        jwks: { keys: [secrets.clientJwk as Record<string, string>] }
      },
      {
        ...confidential,
        client_id: "tokenfx-secret-jwt",
        client_secret: secrets.secretJwt,
        token_endpoint_auth_method: "client_secret_jwt"
      },
      {
        client_id: "tokenfx-public",
        token_endpoint_auth_method: "none",
        grant_types: publicGrants,
        redirect_uris: [redirectUri],
        response_types: ["code"],
        scope: scopes.join(" ")
      },
      {
        client_id: "tokenfx-native",
        application_type: "native",
        token_endpoint_auth_method: "none",
        grant_types: publicGrants,
        redirect_uris: ["http://127.0.0.1/callback"],
        response_types: ["code"],
        scope: scopes.join(" ")
      }
    ],
    clientDefaults: { id_token_signed_response_alg: "ES256" },
    scopes,
    routes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: introspectionAllowed },
      revocation: { enabled: true, allowedPolicy: revocationAllowed },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx, form, _out, error) => {
          ctx.body = `<!DOCTYPE html><html><body data-outcome="${
            error === undefined ? "input" : error.name
          }">${form}</body></html>`
        },
        userCodeConfirmSource: (ctx, form) => {
          ctx.body = `<!DOCTYPE html><html><body data-outcome="confirm">${form}</body></html>`
        },
        successSource: (ctx) => {
          ctx.body = `<!DOCTYPE html><html><body data-outcome="approved"></body></html>`
        }
      },
      // Without resource indicators every granted scope lands in the (opaque) access token.
      resourceIndicators: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: true },
      dPoP: {
        enabled: true,
        nonceSecret: Buffer.from(input.dpopNonceSecret),
        requireNonce: () => options.requireDpopNonce === true
      }
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    clientBasedCORS: () => false,
    renderError: (ctx, out) => {
      ctx.type = "html"
      ctx.body = `<!DOCTYPE html><html><body data-error="${escape(String(out.error))}">${
        escape(String(out.error_description ?? ""))
      }</body></html>`
    },
    // The harness promises refresh tokens for every user grant, `offline_access` or not.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed("refresh_token"),
    expiresWithSession: () => false,
    rotateRefreshToken: options.rotateRefreshToken ?? true,
    ttl: {
      AccessToken: accessTokenTtl,
      ClientCredentials: accessTokenTtl,
      AuthorizationCode: 60,
      DeviceCode: options.deviceCodeTtl ?? 600,
      IdToken: 3600,
      RefreshToken: refreshTokenTtl,
      Interaction: 3600,
      Session: longLived,
      Grant: longLived
    }
  }
}

// oidc-provider's defaults, given here so that it does not print a notice for each.
const introspectionAllowed = (
  ctx: KoaContextWithOIDC,
  client: ProviderClient,
  token: AccessToken | ClientCredentials | RefreshToken
) => !(client.clientAuthMethod === "none" && token.clientId !== ctx.oidc.client?.clientId)

const revocationAllowed = (
  _ctx: KoaContextWithOIDC,
  client: ProviderClient,
  token: AccessToken | ClientCredentials | RefreshToken
) => token.clientId === client.clientId

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

const randomHex = (bytes: number): string =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("")

// One ES256 signing key per start, from WebCrypto (oidc-provider signs ID tokens with it).
const signingKeys = async (): Promise<{ keys: Array<JsonWebKey & { kid: string }> }> => {
  const pair = await globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])
  const { crv, d, kty, x, y } = await globalThis.crypto.subtle.exportKey("jwk", pair.privateKey)
  return {
    keys: [{ kty: kty!, crv: crv!, x: x!, y: y!, d: d!, kid: `tokenfx-${randomHex(4)}`, alg: "ES256", use: "sig" }]
  }
}

// The private_key_jwt client's key: ES256 from WebCrypto, handed to tests as a JWK and as PEM.
const clientSigningKey = async () => {
  const pair = await globalThis.crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign"])
  const { crv, d, kty, x, y } = await globalThis.crypto.subtle.exportKey("jwk", pair.privateKey)
  const kid = `client-${randomHex(4)}`
  const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey("pkcs8", pair.privateKey)).toString("base64")
  return {
    publicJwk: { kty: kty!, crv: crv!, x: x!, y: y!, kid, alg: "ES256", use: "sig" },
    privateJwk: JSON.stringify({ kty, crv, x, y, d, kid, alg: "ES256" }),
    privatePem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`
  }
}

// An in-memory adapter per server, so that `revokeGrants` can find an account's grants. Expiry is
// oidc-provider's own check on read; entries are dropped when the server closes.
const memoryAdapter = (store: Map<string, AdapterPayload>) => (model: string): Adapter => {
  const key = (id: string) => `${model}:${id}`
  const indexed = (field: "uid" | "userCode", value: string) => {
    for (const [k, payload] of store) {
      if (k.startsWith(`${model}:`) && payload[field] === value) return payload
    }
    return undefined
  }
  return {
    upsert: async (id, payload) => {
      store.set(key(id), payload)
    },
    find: async (id) => store.get(key(id)),
    findByUid: async (uid) => indexed("uid", uid),
    findByUserCode: async (userCode) => indexed("userCode", userCode),
    consume: async (id) => {
      const payload = store.get(key(id))
      // Only its truthiness is read (reuse detection); the time is not ours to take.
      if (payload !== undefined) payload.consumed = true
    },
    destroy: async (id) => {
      store.delete(key(id))
    },
    revokeByGrantId: async (grantId) => {
      for (const [k, payload] of store) {
        if (k.startsWith(`${model}:`) && payload.grantId === grantId) store.delete(k)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// routes beside oidc-provider
// ---------------------------------------------------------------------------------------------------

// Logs the account in, then grants whatever the consent prompt says is missing.
const interaction = async (provider: Provider, req: Http.IncomingMessage, res: Http.ServerResponse) => {
  const details = await provider.interactionDetails(req, res)
  const header = req.headers[accountHeader]
  const accountId = typeof header === "string" && header.length > 0 ? header : defaultAccount
  if (details.prompt.name === "login") {
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false })
  }
  const clientId = String(details.params.client_id)
  const grant = details.grantId === undefined
    ? new provider.Grant({ accountId: details.session?.accountId ?? accountId, clientId })
    : await provider.Grant.find(details.grantId)
  if (grant === undefined) throw new Error("the interaction's grant is gone")
  const missing = details.prompt.details as {
    readonly missingOIDCScope?: ReadonlyArray<string>
    readonly missingOIDCClaims?: ReadonlyArray<string>
    readonly missingResourceScopes?: Readonly<Record<string, ReadonlyArray<string>>>
  }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "))
  if (missing.missingOIDCClaims) grant.addOIDCClaims([...missing.missingOIDCClaims])
  for (const [indicator, granted] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, granted.join(" "))
  }
  const grantId = await grant.save()
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}

const resource = async (provider: Provider, req: Http.IncomingMessage, res: Http.ServerResponse) => {
  const reject = (status: number, challenge: string) => {
    res.statusCode = status
    res.setHeader("www-authenticate", challenge)
    res.setHeader("content-type", "application/json")
    res.end(JSON.stringify({ error: /error="([^"]+)"/.exec(challenge)?.[1] }))
  }
  const value = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1]
  const token = value === undefined
    ? undefined
    : (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value))
  if (token === undefined || token.isExpired) {
    return reject(401, `Bearer error="invalid_token", error_description="the access token is invalid or expired"`)
  }
  // A DPoP-bound token is worthless as a bearer token (RFC 9449 section 7.2); `userinfoEndpoint` takes it with its proof.
  if (token.jkt !== undefined) {
    return reject(401, `Bearer error="invalid_token", error_description="the access token is DPoP-bound"`)
  }
  const required = (new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("scope") ?? "")
    .split(" ")
    .filter((scope) => scope.length > 0)
  const granted = new Set((token.scope ?? "").split(" "))
  const absent = required.filter((scope) => !granted.has(scope))
  if (absent.length > 0) {
    return reject(403, `Bearer error="insufficient_scope", scope="${required.join(" ")}"`)
  }
  res.setHeader("content-type", "application/json")
  res.end(JSON.stringify({
    sub: "accountId" in token && token.accountId !== undefined ? token.accountId : token.clientId,
    client_id: token.clientId,
    scope: token.scope ?? ""
  }))
}

// ---------------------------------------------------------------------------------------------------
// a browser, enough of one
// ---------------------------------------------------------------------------------------------------

// Cookies by name, whatever their path: one jar serves one login, where names do not clash.
class CookieJar {
  private readonly cookies = new Map<string, string>()
  store(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";", 1)[0]!
      const at = pair.indexOf("=")
      if (at <= 0) continue
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      // oidc-provider deletes a cookie by setting it empty (and expired).
      if (value.length === 0) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header(): string {
    return Array.from(this.cookies, ([name, value]) => `${name}=${value}`).join("; ")
  }
}

interface Page {
  readonly status: number
  readonly body: string
  /** Set when the walk stopped at a redirect to `stopAt`. */
  readonly location?: string | undefined
}

// Follows redirects with the jar until a page that is not a redirect, or a redirect to `stopAt`.
const browse = (
  jar: CookieJar,
  accountId: string,
  first: { readonly url: string; readonly form?: Record<string, string> },
  stopAt?: string
): Effect.Effect<Page> =>
  Effect.promise(async () => {
    let request: { url: string; form?: Record<string, string> | undefined } = first
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(request.url, {
        method: request.form === undefined ? "GET" : "POST",
        redirect: "manual",
        headers: {
          cookie: jar.header(),
          [accountHeader]: accountId,
          accept: "text/html",
          ...(request.form === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
        },
        ...(request.form === undefined ? {} : { body: new URLSearchParams(request.form).toString() })
      })
      jar.store(response)
      const location = response.headers.get("location")
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel()
        const next = new URL(location, request.url).href
        if (stopAt !== undefined && next.startsWith(stopAt)) {
          return { status: response.status, body: "", location: next }
        }
        request = { url: next }
        continue
      }
      const body = await response.text()
      if (stopAt !== undefined) {
        const error = /data-error="([^"]*)"/.exec(body)?.[1]
        throw new Error(
          `OidcProvider: expected a redirect to ${stopAt}, got status ${response.status}${
            error === undefined ? "" : ` (${error}: ${body.replace(/<[^>]*>/g, "").trim()})`
          }`
        )
      }
      return { status: response.status, body }
    }
    throw new Error("OidcProvider: too many redirects")
  })

const listen = (
  port: number,
  handler: Http.RequestListener
): Effect.Effect<Http.Server, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<Http.Server>((resume) => {
      const server = Http.createServer(handler)
      server.once("error", (cause) => resume(Effect.die(cause)))
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  )
