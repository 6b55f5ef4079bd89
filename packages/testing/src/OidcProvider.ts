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
import * as Adapter from "./internal/oidcProvider/adapter.js"
import * as Browser from "./internal/oidcProvider/browser.js"
import { routes } from "./internal/oidcProvider/configuration.js"
import * as Lifecycle from "./internal/oidcProvider/lifecycle.js"
import { defaultAccount } from "./internal/oidcProvider/routes.js"

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
    /**
     * Like `basic` (with the same secret), registered with `userinfo_signed_response_alg: "ES256"`: its
     * UserInfo answers are JWTs signed with the server's keys.
     */
    readonly signedUserInfo: Client
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

/**
 * Starts the server on 127.0.0.1 (a random port unless `options.port`); it closes with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<OidcServer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const harness = yield* Lifecycle.start({
      ...options,
      port: options.port ?? 0,
      clientSecret: Redacted.isRedacted(options.clientSecret)
        ? Redacted.value(options.clientSecret)
        : options.clientSecret
    })
    const { counters, issuer, secrets, store } = harness

    const decideDevice = (
      userCode: string,
      accountId: string,
      decision: "confirm" | "abort",
      expected: string,
      failure: string
    ) =>
      Browser.deviceForm(issuer, userCode, accountId, decision).pipe(
        Effect.flatMap((outcome) =>
          outcome === expected ? Effect.void : Effect.dieMessage(`OidcProvider.${failure} (${outcome})`)
        )
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
      resourceUrl: `${issuer}/resource`,
      redirectUri: harness.redirectUri,
      clients: {
        basic: { clientId: "tokenfx-basic", clientSecret: Redacted.make(secrets.basic) },
        post: { clientId: "tokenfx-post", clientSecret: Redacted.make(secrets.post) },
        public: { clientId: "tokenfx-public", clientSecret: undefined },
        native: { clientId: "tokenfx-native", clientSecret: undefined },
        privateKeyJwt: {
          clientId: "tokenfx-private-key-jwt",
          privateKeyJwk: Redacted.make(harness.clientKey.privateJwk),
          privateKeyPem: Redacted.make(harness.clientKey.privatePem)
        },
        secretJwt: { clientId: "tokenfx-secret-jwt", clientSecret: Redacted.make(secrets.secretJwt) },
        signedUserInfo: { clientId: "tokenfx-signed-userinfo", clientSecret: Redacted.make(secrets.basic) }
      },
      stats: Effect.sync((): Stats => ({
        tokenRequests: { ...counters.tokenRequests },
        grantErrors: { ...counters.grantErrors },
        resourceRequests: counters.resourceRequests,
        revocationRequests: counters.revocationRequests,
        introspectionRequests: counters.introspectionRequests
      })),
      authorize: (authorizationUrl, accountId = defaultAccount) =>
        Browser.authorize(authorizationUrl, accountId, harness.redirectUri).pipe(
          Effect.withSpan("OidcProvider.authorize")
        ),
      approveDevice: (userCode, accountId = defaultAccount) =>
        decideDevice(userCode, accountId, "confirm", "approved", "approveDevice: the device authorization failed").pipe(
          Effect.withSpan("OidcProvider.approveDevice")
        ),
      denyDevice: (userCode) =>
        decideDevice(
          userCode,
          defaultAccount,
          "abort",
          "AbortedError",
          "denyDevice: the device authorization was not denied"
        ).pipe(Effect.withSpan("OidcProvider.denyDevice")),
      revokeGrants: (accountId = defaultAccount) =>
        Effect.sync(() => Adapter.revokeGrants(store, accountId)).pipe(Effect.withSpan("OidcProvider.revokeGrants")),
      invalidateAccessTokens: (accountId = defaultAccount) =>
        Effect.sync(() => Adapter.invalidateAccessTokens(store, accountId)).pipe(
          Effect.withSpan("OidcProvider.invalidateAccessTokens")
        ),
      rateLimitTokenEndpoint: (requests, retryAfter) => Effect.sync(() => harness.rateLimit(requests, retryAfter)),
      rotateSigningKey: harness.rotateSigningKey.pipe(Effect.withSpan("OidcProvider.rotateSigningKey"))
    }
  })

/**
 * The server as a layer, closed when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<OidcProvider> => Layer.scoped(OidcProvider, make(options))
