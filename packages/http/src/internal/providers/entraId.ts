import * as Compliance from "../../Compliance.js"
import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /** A tenant id or domain, or `common`, `organizations`, `consumers`. Default `common`. */
  readonly tenant?: string | undefined
  /** Default `https://login.microsoftonline.com`; a national cloud's authority otherwise. */
  readonly authority?: string | undefined
  /** Add `offline_access` to user flows, without which there is no refresh token. Default `true`. */
  readonly offlineAccess?: boolean | undefined
}

/**
 * `AADSTS` codes (in `error_description`) that name a disposition better than their `error`: the user
 * must consent, or sign in again (MFA, a policy). An expired or revoked refresh token (AADSTS700082,
 * AADSTS50173, ...) is `invalid_grant` already: the grant is dead.
 *
 * @internal
 */
export const aadsts: Record<string, string> = {
  AADSTS65001: "consent_required",
  AADSTS50076: "interaction_required",
  AADSTS50079: "interaction_required",
  AADSTS50158: "interaction_required",
  AADSTS53003: "interaction_required"
}

/** @internal */
export const compliance: Compliance.Compliance = Compliance.errorDetails(aadsts)

/** @internal */
export const make = (options: Options): profile.Profile => {
  const root = `${profile.trim(options.authority ?? "https://login.microsoftonline.com")}/${
    encodeURIComponent(options.tenant ?? "common")
  }/oauth2/v2.0`
  const scope = options.scope ?? ["openid"]
  return {
    name: "entra-id",
    // No RFC 7009 endpoint: disconnecting revokes locally only (Microsoft Graph `revokeSignInSessions`
    // ends every session of the user).
    endpoint: profile.endpointOptions(options, {
      authorizationEndpoint: `${root}/authorize`,
      tokenEndpoint: `${root}/token`,
      deviceAuthorizationEndpoint: `${root}/devicecode`,
      clientAuthentication: options.clientSecret === undefined ? "none" : "client_secret_post",
      compliance
    }),
    scope: options.offlineAccess === false ? scope : profile.withScopes(scope, ["offline_access"]),
    // The client credentials grant takes `<resource>/.default` alone.
    clientCredentialsScope: scope.filter((s) => s.endsWith("/.default")),
    refreshScope: true
  }
}
