import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Redacted from "effect/Redacted"
import * as Compliance from "../../Compliance.js"
import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /** The tenant's domain (`example.eu.auth0.com`) or a custom domain; `https://` is added when missing. */
  readonly domain: string
  /** The API the access token is for; without it (and no tenant default) the token is opaque. */
  readonly audience?: string | undefined
  /** Add `offline_access`, without which there is no refresh token. Default `true`. */
  readonly offlineAccess?: boolean | undefined
}

/**
 * Auth0: `mfa_required` carries an `mfa_token` that continues the MFA challenge; a 429 says when the
 * limit resets in `x-ratelimit-reset` (epoch seconds).
 *
 * @internal
 */
export const compliance: Compliance.Compliance = Compliance.compose(
  Compliance.rateLimitReset("x-ratelimit-reset"),
  Compliance.mapError((error, answer) => {
    if (error._tag !== "MfaRequired") return error
    const token = Compliance.parseObject(answer.body)?.["mfa_token"]
    return typeof token === "string" && token.length > 0
      ? new OAuthError.MfaRequired({ ...error, mfaToken: Redacted.make(token) })
      : error
  })
)

/** @internal */
export const origin = (domain: string): string =>
  profile.trim(/^https?:\/\//.test(domain) ? domain : `https://${domain}`)

/** @internal */
export const make = (options: Options): profile.Profile => {
  const base = origin(options.domain)
  const scope = options.scope ?? ["openid"]
  return {
    name: "auth0",
    endpoint: profile.endpointOptions(options, {
      issuer: `${base}/`,
      authorizationEndpoint: `${base}/authorize`,
      tokenEndpoint: `${base}/oauth/token`,
      revocationEndpoint: `${base}/oauth/revoke`,
      deviceAuthorizationEndpoint: `${base}/oauth/device/code`,
      clientAuthentication: options.clientSecret === undefined ? "none" : "client_secret_post",
      compliance
    }),
    scope: options.offlineAccess === false ? scope : profile.withScopes(scope, ["offline_access"]),
    clientCredentialsScope: options.scope ?? [],
    audience: options.audience
  }
}
