import * as Compliance from "../../Compliance.js"
import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /** The org's domain (`example.okta.com`); `https://` is added when missing. */
  readonly domain: string
  /** A custom authorization server's id; `default` unless given, `null` for the org server. */
  readonly authorizationServerId?: string | null | undefined
  /** Add `offline_access`, without which there is no refresh token. Default `true`. */
  readonly offlineAccess?: boolean | undefined
}

/**
 * Okta: a 429 says when the limit resets in `x-rate-limit-reset` (UTC epoch seconds), to be read
 * against the answer's `Date`.
 *
 * @internal
 */
export const compliance: Compliance.Compliance = Compliance.rateLimitReset("x-rate-limit-reset")

/** @internal */
export const make = (options: Options): profile.Profile => {
  const origin = profile.trim(/^https?:\/\//.test(options.domain) ? options.domain : `https://${options.domain}`)
  const server = options.authorizationServerId === null
    ? `${origin}/oauth2`
    : `${origin}/oauth2/${encodeURIComponent(options.authorizationServerId ?? "default")}`
  const scope = options.scope ?? ["openid"]
  return {
    name: "okta",
    endpoint: profile.endpointOptions(options, {
      issuer: options.authorizationServerId === null ? origin : server,
      authorizationEndpoint: `${server}/v1/authorize`,
      tokenEndpoint: `${server}/v1/token`,
      revocationEndpoint: `${server}/v1/revoke`,
      introspectionEndpoint: `${server}/v1/introspect`,
      deviceAuthorizationEndpoint: `${server}/v1/device/authorize`,
      compliance
    }),
    scope: options.offlineAccess === false ? scope : profile.withScopes(scope, ["offline_access"]),
    clientCredentialsScope: options.scope ?? []
  }
}
