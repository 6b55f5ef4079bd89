/**
 * Provider profiles: what GitHub, Google, Microsoft Entra ID, Auth0, Okta and Keycloak need besides
 * the RFCs — their endpoints, the client authentication they expect, default parameters (scopes,
 * `access_type=offline`, `audience`), how to read their answers (a `Compliance` hook), and how they
 * revoke. Each behaviour is taken from the provider's public documentation and tested against the
 * matching dialect of `@tokenfx/testing/AuthorizationServer`.
 *
 * @example
 * ```ts
 * import * as Provider from "@tokenfx/http/Provider"
 * import * as TokenManager from "@tokenfx/http/TokenManager"
 * import * as Config from "effect/Config"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const github = Provider.github({ clientId: "Iv1.0123", clientSecret: Redacted.make("…") })
 *
 * // A token manager that refreshes GitHub user tokens and disconnects through GitHub's REST API.
 * export const layer = TokenManager.layerWithSource().pipe(
 *   Layer.provide(Provider.layerSource(github)),
 *   Layer.provideMerge(Provider.layer(github))
 * )
 * ```
 *
 * @since 0.3.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as auth0_ from "./internal/providers/auth0.js"
import * as entraId_ from "./internal/providers/entraId.js"
import * as github_ from "./internal/providers/github.js"
import * as google_ from "./internal/providers/google.js"
import * as keycloak_ from "./internal/providers/keycloak.js"
import * as okta_ from "./internal/providers/okta.js"
import type * as profile from "./internal/providers/profile.js"
import * as TokenEndpoint from "./TokenEndpoint.js"
import type * as TokenRequest from "./TokenRequest.js"
import * as TokenSource from "./TokenSource.js"

/**
 * A provider profile.
 *
 * - `endpoint`: the token endpoint's options: endpoints, client authentication, the `compliance` hook.
 * - `scope`: the scopes asked for when a user flow (authorization URL, device flow) names none;
 *   `clientCredentialsScope` the same for the client credentials grant.
 * - `audience`: sent with user flows and client credentials (Auth0).
 * - `authorizationParameters`: added to the authorization URL (Google's `access_type=offline`).
 * - `refreshScope`: send `scope` with refreshes too (Entra ID).
 * - `revokeWith`: which token a disconnect revokes; `revoke`: a revocation of the provider's own.
 *
 * @since 0.3.0
 * @category models
 */
export interface Profile extends profile.Profile {}

/**
 * The options every profile takes: the client, the scopes, and any other token endpoint option
 * (`endpoint`: timeouts, backoff, `allowInsecureHttp` for tests).
 *
 * @since 0.3.0
 * @category models
 */
export interface ClientOptions extends profile.ClientOptions {}

/**
 * GitHub (OAuth apps and GitHub apps): JSON answers asked for with `Accept: application/json`,
 * errors read from HTTP 200 answers (`bad_refresh_token` is a dead grant, `bad_verification_code`
 * an expired code, `incorrect_client_credentials` a configuration error), comma-separated scopes,
 * expiring user tokens (`refresh_token_expires_in`, rotated on each refresh), the device flow with
 * `slow_down` naming the new interval, and a disconnect through the REST API
 * (`DELETE /applications/{client_id}/grant`) since GitHub has no RFC 7009 endpoint.
 *
 * @since 0.3.0
 * @category constructors
 */
export const github = (options: GitHubOptions): Profile => github_.make(options)

/**
 * Options of the GitHub profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface GitHubOptions extends github_.Options {}

/**
 * Google: `access_type=offline` and `prompt=consent` on the authorization URL (or no refresh token
 * after the first consent), refresh answers without a new refresh token (the old one is kept), its
 * revocation endpoint, and the device flow's `verification_url`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const google = (options: GoogleOptions): Profile => google_.make(options)

/**
 * Options of the Google profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface GoogleOptions extends google_.Options {}

/**
 * Microsoft Entra ID (v2.0 endpoints): tenant-specific endpoints, `offline_access` added to user
 * flows, scopes sent with refreshes, client credentials with the `<resource>/.default` scopes only,
 * and `AADSTS` codes read as dispositions: an expired or revoked refresh token (AADSTS700082,
 * AADSTS50173) is `InvalidGrant` (reconnect), consent (AADSTS65001) `ConsentRequired`, MFA or a
 * policy (`interaction_required` and its suberrors) `InteractionRequired`. There is no RFC 7009
 * revocation: a disconnect is local. A resource's claims challenge (Continuous Access Evaluation,
 * Conditional Access) is `InsufficientClaims` from `AuthorizedClient`: pass its `claims` to
 * `authorizationUrl` as `extra: { claims }`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const entraId = (options: EntraIdOptions): Profile => entraId_.make(options)

/**
 * Options of the Microsoft Entra ID profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface EntraIdOptions extends entraId_.Options {}

/**
 * Auth0: `audience`, `offline_access`, `/oauth/revoke`, `mfa_required` as `MfaRequired` (with its
 * `mfa_token`), and `x-ratelimit-reset` read as `Retry-After`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const auth0 = (options: Auth0Options): Profile => auth0_.make(options)

/**
 * Options of the Auth0 profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface Auth0Options extends auth0_.Options {}

/**
 * Okta: a custom authorization server's paths (`/oauth2/{id}/v1/...`, `default` unless given), revoke
 * and introspect, `offline_access`, and `x-rate-limit-reset` (an epoch time, measured against the
 * answer's `Date`) read as `Retry-After`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const okta = (options: OktaOptions): Profile => okta_.make(options)

/**
 * Options of the Okta profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface OktaOptions extends okta_.Options {}

/**
 * Keycloak: realm paths (`/realms/{realm}/protocol/openid-connect/...`, under `/auth` before version
 * 17), revoke and introspect, and `refresh_expires_in` read as the refresh token's expiry (0: none).
 *
 * @since 0.3.0
 * @category constructors
 */
export const keycloak = (options: KeycloakOptions): Profile => keycloak_.make(options)

/**
 * Options of the Keycloak profile.
 *
 * @since 0.3.0
 * @category models
 */
export interface KeycloakOptions extends keycloak_.Options {}

const withDefaults = <O extends TokenRequest.ScopeOptions>(
  options: O | undefined,
  scope: ReadonlyArray<string> | undefined,
  audience: string | undefined
): O =>
  ({
    ...options,
    scope: options?.scope ?? (scope === undefined || scope.length === 0 ? undefined : scope),
    audience: options?.audience ?? audience
  }) as O

/**
 * A `TokenEndpoint` for the provider: the profile's endpoint options, with its default scopes,
 * audience and authorization parameters filled in where a call names none, and its own revocation.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (
  profile: Profile
): Effect.Effect<TokenEndpoint.TokenEndpoint["Type"], never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const base = yield* TokenEndpoint.make(profile.endpoint)
    const client = yield* HttpClient.HttpClient
    const clientScope = profile.clientCredentialsScope ?? profile.scope
    return TokenEndpoint.TokenEndpoint.of({
      ...base,
      authorizationUrl: (options) =>
        base.authorizationUrl({
          ...withDefaults(options, profile.scope, profile.audience),
          extra: { ...profile.authorizationParameters, ...options.extra }
        }),
      deviceAuthorization: (options) =>
        base.deviceAuthorization(withDefaults(options, profile.scope, profile.audience)),
      clientCredentials: (options) => base.clientCredentials(withDefaults(options, clientScope, profile.audience)),
      refresh: (token, options) =>
        base.refresh(token, profile.refreshScope === true ? withDefaults(options, profile.scope, undefined) : options),
      revoke: profile.revoke === undefined ? base.revoke : profile.revoke(client)
    })
  })

/**
 * A `TokenSource` over the provider's `TokenEndpoint` (the refresh token grant unless `grant` says
 * otherwise), whose disconnect revokes the token the provider revokes by (GitHub: the access token,
 * which ends the whole grant).
 *
 * @since 0.3.0
 * @category constructors
 */
export const source = (
  profile: Profile,
  endpoint: TokenEndpoint.TokenEndpoint["Type"],
  grant?: TokenSource.Grant | undefined
): TokenSource.TokenSource["Type"] => {
  const base = TokenSource.fromEndpoint(endpoint, grant)
  if (profile.revokeWith !== "access_token") return base
  return TokenSource.TokenSource.of({
    ...base,
    revoke: (token) =>
      endpoint.revoke(token.accessToken, "access_token").pipe(
        Effect.as(Option.none()),
        Effect.catchTag(
          "MissingEndpoint",
          () => Effect.succeed(Option.some(TokenSource.RevocationSkipped.Unsupported()))
        )
      )
  })
}

/**
 * The `TokenEndpoint` of a provider profile, over the `HttpClient` in context.
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (profile: Profile): Layer.Layer<TokenEndpoint.TokenEndpoint, never, HttpClient.HttpClient> =>
  Layer.effect(TokenEndpoint.TokenEndpoint, make(profile))

/**
 * The provider's `TokenSource` over the `TokenEndpoint` in context (see {@link source}), for
 * `TokenManager.layerWithSource`.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerSource = (
  profile: Profile,
  grant?: TokenSource.Grant | undefined
): Layer.Layer<TokenSource.TokenSource, never, TokenEndpoint.TokenEndpoint> =>
  Layer.effect(
    TokenSource.TokenSource,
    Effect.map(TokenEndpoint.TokenEndpoint, (endpoint) => source(profile, endpoint, grant))
  )
