/**
 * Provider dialects for the in-memory `AuthorizationServer`: the paths, answer shapes, error shapes,
 * rotation policy and rate-limit headers of GitHub, Google, Microsoft Entra ID, Auth0, Okta and
 * Keycloak, as their public documentation describes them, so that a provider profile's whole
 * lifecycle runs on `TestClock`.
 *
 * @example
 * ```ts
 * import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
 * import * as Dialect from "@tokenfx/testing/Dialect"
 *
 * // A server that answers like GitHub: errors with HTTP 200, comma-separated scopes, a REST revocation.
 * export const layer = AuthorizationServer.layer({ issuer: "https://github.test", dialect: Dialect.github })
 * ```
 *
 * @since 0.3.0
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as answer from "./internal/answer.js"
import * as errors from "./internal/dialectErrors.js"

/**
 * The endpoints a dialect may move or reshape: `authorization`, `token`, `revocation`, `introspection`,
 * `device_authorization` and `resource`.
 *
 * @since 0.3.0
 * @category models
 */
export type Endpoint = answer.Endpoint

/**
 * An answer on its way out: `status`, `body` (JSON unless it is a string) and `headers`.
 *
 * @since 0.3.0
 * @category models
 */
export type Answer = answer.Answer

/**
 * What a dialect knows of the request it reshapes the answer of: the `endpoint` (not `authorization`),
 * `now` in milliseconds, the `grantType` and `accept` header of the request, and the `refreshTokenTtl`
 * (milliseconds) the server was given.
 *
 * @since 0.3.0
 * @category models
 */
export type Context = answer.Context

/**
 * What a dialect's own routes (GitHub's REST revocation) may do to the server: `authenticateBasic` (the
 * client id of valid Basic credentials, else `undefined`) and `revokeGrantOf` (revokes the grant of an
 * access token issued to a client; `false` when there is none).
 *
 * @since 0.3.0
 * @category models
 */
export type ServerAccess = answer.ServerAccess

/**
 * What happens when a rotated refresh token is presented again: the whole grant is revoked (reuse
 * detection), it is refused alone (`refuse`), it still works (`allowed`), or it still works for
 * `graceMillis` after its rotation and revokes the grant after that (with `previousOnly`, also as soon as
 * the token that replaced it is rotated in turn: only the previous token may be reused).
 *
 * @since 0.3.0
 * @category models
 */
export type Reuse =
  | "revoke-grant"
  | "refuse"
  | "allowed"
  | { readonly graceMillis: number; readonly previousOnly?: boolean | undefined }

/**
 * How a provider's server differs from the standard one: its endpoint paths, refresh token rotation and answers.
 *
 * @since 0.3.0
 * @category models
 */
export interface Dialect {
  readonly name: string
  /** Endpoint paths under the issuer, where the provider's differ. */
  readonly paths?: Partial<Record<Endpoint, string>> | undefined
  /** Whether a refresh issues a new refresh token (the server's `rotateRefreshTokens` otherwise). */
  readonly rotate?: boolean | undefined
  readonly reuse?: Reuse | undefined
  /** Whether a code from this authorization URL's parameters comes with a refresh token. Default: yes. */
  readonly issuesRefreshToken?: ((parameters: URLSearchParams) => boolean) | undefined
  /** Reshapes every answer (forced failures included) before it is sent. */
  readonly answer?: ((answer: Answer, context: Context) => Answer) | undefined
  /** Routes of the provider's own, outside OAuth; `undefined` when the request is not one. */
  readonly route?:
    | ((
      request: HttpClientRequest.HttpClientRequest,
      url: URL,
      server: ServerAccess
    ) => Effect.Effect<Answer> | undefined)
    | undefined
}

/**
 * GitHub ("Authorizing OAuth apps", "Refreshing user access tokens", "Troubleshooting OAuth app access
 * token request errors", "REST API endpoints for OAuth authorizations"): `/login/oauth/...` paths,
 * token endpoint errors with HTTP 200 and GitHub's codes, form-encoded answers unless JSON is asked
 * for, comma-separated scopes, rotated refresh tokens that stop working once used, `slow_down` with
 * the new `interval`, `x-ratelimit-*` headers, and `DELETE /applications/{client_id}/grant`.
 *
 * @since 0.3.0
 * @category dialects
 */
export const github: Dialect = {
  name: "github",
  paths: {
    authorization: "/login/oauth/authorize",
    token: "/login/oauth/access_token",
    device_authorization: "/login/device/code"
  },
  rotate: true,
  reuse: "refuse",
  answer: errors.github,
  route: (request, url, server) => errors.githubRevoke(request, url, server)
}

/**
 * Google ("Using OAuth 2.0 for Web Server Applications", "OAuth 2.0 for TV and Limited-Input Device
 * Applications"): a refresh token only for `access_type=offline` (here: with `prompt=consent`, as after
 * the first consent), refresh answers without a refresh token, `invalid_grant` "Token has been expired or
 * revoked.", `verification_url` in device answers, and 400 `invalid_token` when revoking a token that
 * is no longer valid.
 *
 * @since 0.3.0
 * @category dialects
 */
export const google: Dialect = {
  name: "google",
  paths: {
    token: "/token",
    revocation: "/revoke",
    device_authorization: "/device/code",
    authorization: "/o/oauth2/v2/auth"
  },
  rotate: false,
  // A web server client gets a refresh token only with `access_type=offline`, and only with consent.
  issuesRefreshToken: (parameters) =>
    parameters.get("access_type") === "offline" && parameters.get("prompt") === "consent",
  answer: errors.google
}

/**
 * Microsoft Entra ID v2.0 ("Microsoft identity platform and OAuth 2.0 authorization code flow",
 * "Microsoft Entra authentication and authorization error codes"): `/{tenant}/oauth2/v2.0/...` paths
 * (the issuer carries the tenant), a new refresh token on every refresh while the old one keeps
 * working, `ext_expires_in`, errors with `error_codes`, `timestamp`, `trace_id` and `AADSTS` codes,
 * and no revocation endpoint.
 *
 * @since 0.3.0
 * @category dialects
 */
export const entraId: Dialect = {
  name: "entra-id",
  paths: {
    authorization: "/oauth2/v2.0/authorize",
    token: "/oauth2/v2.0/token",
    device_authorization: "/oauth2/v2.0/devicecode",
    revocation: "/no-revocation-endpoint",
    introspection: "/no-introspection-endpoint"
  },
  rotate: true,
  reuse: "allowed",
  answer: errors.entraId
}

/**
 * Auth0 ("Refresh Token Rotation", "Revoke Refresh Tokens", "Rate Limit Policy"): `/oauth/...` paths,
 * rotation with reuse detection after a reuse interval (`leeway`, here 0), and `x-ratelimit-limit`,
 * `x-ratelimit-remaining`, `x-ratelimit-reset` (epoch seconds) on 429 instead of `Retry-After`.
 *
 * @since 0.3.0
 * @category dialects
 */
export const auth0: Dialect = {
  name: "auth0",
  paths: {
    authorization: "/authorize",
    token: "/oauth/token",
    revocation: "/oauth/revoke",
    device_authorization: "/oauth/device/code"
  },
  rotate: true,
  reuse: "revoke-grant",
  answer: errors.rateLimit("x-ratelimit")
}

/**
 * Auth0 with a non-zero reuse interval ("Configure Refresh Token Rotation": the application's "Reuse
 * Interval" or "Rotation Overlap Period", API field `leeway`, in seconds): the previous refresh token
 * may be exchanged again within `interval` of its rotation, and gets a new one; after that, or once
 * the token that replaced it has been rotated in turn, reuse detection revokes the grant.
 *
 * @since 0.4.0
 * @category dialects
 */
export const auth0WithReuseInterval = (interval: Duration.DurationInput): Dialect => ({
  ...auth0,
  reuse: { graceMillis: Duration.toMillis(interval), previousOnly: true }
})

/**
 * Okta ("OpenID Connect & OAuth 2.0 API", "Refresh token rotation", "Rate limits"): a custom
 * authorization server's `/v1/...` paths (the issuer carries `/oauth2/{id}`), rotation with a
 * 30-second grace period, and `x-rate-limit-reset` (epoch seconds) with a `Date` header on 429.
 *
 * @since 0.3.0
 * @category dialects
 */
export const okta: Dialect = {
  name: "okta",
  paths: {
    authorization: "/v1/authorize",
    token: "/v1/token",
    revocation: "/v1/revoke",
    introspection: "/v1/introspect",
    device_authorization: "/v1/device/authorize"
  },
  rotate: true,
  reuse: { graceMillis: 30_000 },
  answer: errors.rateLimit("x-rate-limit")
}

/**
 * Keycloak ("Securing applications with OpenID Connect": endpoints): `/protocol/openid-connect/...`
 * paths (the issuer carries `/realms/{realm}`), `refresh_expires_in` (0 when the refresh token does not
 * expire), `not-before-policy` and `session_state`, a new refresh token on each refresh while the
 * old one keeps working ("Revoke Refresh Token" off, the default).
 *
 * @since 0.3.0
 * @category dialects
 */
export const keycloak: Dialect = {
  name: "keycloak",
  paths: {
    authorization: "/protocol/openid-connect/auth",
    token: "/protocol/openid-connect/token",
    revocation: "/protocol/openid-connect/revoke",
    introspection: "/protocol/openid-connect/token/introspect",
    device_authorization: "/protocol/openid-connect/auth/device"
  },
  rotate: true,
  reuse: "allowed",
  answer: errors.keycloak
}

/**
 * Keycloak with "Revoke Refresh Token" on: a used refresh token stops working.
 *
 * @since 0.3.0
 * @category dialects
 */
export const keycloakRevokeRefreshToken: Dialect = { ...keycloak, reuse: "revoke-grant" }
