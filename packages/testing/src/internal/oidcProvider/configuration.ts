/**
 * oidc-provider's configuration for the harness: its clients (one per client authentication method,
 * a public and a native app), scopes, routes, features (client credentials, introspection,
 * revocation, the device flow, DPoP), pages that tests read, and lifetimes.
 */
import type {
  AccessToken,
  Adapter,
  Client as ProviderClient,
  ClientCredentials,
  Configuration,
  KoaContextWithOIDC,
  RefreshToken
} from "oidc-provider"
import type { SigningKeys } from "./keys.js"

/**
 * The harness options that shape the configuration.
 *
 * @internal
 */
export interface Settings {
  readonly accessTokenTtl?: number | undefined
  readonly refreshTokenTtl?: number | undefined
  readonly deviceCodeTtl?: number | undefined
  readonly rotateRefreshToken?: boolean | undefined
  readonly requireDpopNonce?: boolean | undefined
}

const scopes = ["openid", "offline_access", "api:read", "api:write"]
const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"
const confidentialGrants = ["authorization_code", "refresh_token", "client_credentials", deviceGrant]
const publicGrants = ["authorization_code", "refresh_token", deviceGrant]

/**
 * oidc-provider's routes, under the issuer.
 *
 * @internal
 */
export const routes = {
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
 * The secrets of the clients that have one, and the `private_key_jwt` client's public key.
 *
 * @internal
 */
export interface Secrets {
  readonly basic: string
  readonly post: string
  readonly secretJwt: string
  readonly clientJwk: JsonWebKey
}

/** @internal */
export const make = (input: {
  readonly options: Settings
  readonly jwks: SigningKeys
  readonly cookieKey: string
  readonly redirectUri: string
  readonly secrets: Secrets
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
        client_id: "tokenfx-signed-userinfo",
        client_secret: secrets.basic,
        token_endpoint_auth_method: "client_secret_basic",
        userinfo_signed_response_alg: "ES256"
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
      jwtUserinfo: { enabled: true },
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
