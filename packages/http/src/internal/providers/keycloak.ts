import * as profile from "./profile.js"

/** Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed). */
export interface Options extends profile.ClientOptions {
  /** The server's address, such as `https://sso.example.com`. */
  readonly baseUrl: string
  readonly realm: string
  /** Keycloak before version 17 serves everything under `/auth`. Default `false`. */
  readonly legacyAuthPath?: boolean | undefined
  /** Ask for an offline token (`offline_access`): it survives the session and does not expire. Default `false`. */
  readonly offlineAccess?: boolean | undefined
}

/** @internal */
export const make = (options: Options): profile.Profile => {
  const realm = `${profile.trim(options.baseUrl)}${options.legacyAuthPath === true ? "/auth" : ""}/realms/${
    encodeURIComponent(options.realm)
  }`
  const root = `${realm}/protocol/openid-connect`
  const scope = options.scope ?? ["openid"]
  return {
    name: "keycloak",
    // `refresh_expires_in` (0 for offline tokens) is read by the core `Token`: no compliance needed.
    endpoint: profile.endpointOptions(options, {
      issuer: realm,
      authorizationEndpoint: `${root}/auth`,
      tokenEndpoint: `${root}/token`,
      revocationEndpoint: `${root}/revoke`,
      introspectionEndpoint: `${root}/token/introspect`,
      deviceAuthorizationEndpoint: `${root}/auth/device`
    }),
    scope: options.offlineAccess === true ? profile.withScopes(scope, ["offline_access"]) : scope,
    clientCredentialsScope: options.scope ?? []
  }
}
