/** @internal */

/** @internal */
export interface Known {
  /** Discovered at login when set. */
  readonly issuer?: string | undefined
  /** For providers without discovery metadata. */
  readonly endpoints?: {
    readonly tokenEndpoint: string
    readonly authorizationEndpoint?: string | undefined
    readonly deviceAuthorizationEndpoint?: string | undefined
    readonly revocationEndpoint?: string | undefined
  } | undefined
  readonly scope?: ReadonlyArray<string> | undefined
}

// Providers `--provider` names. GitHub publishes no authorization server metadata, so its endpoints
// are written out ("Authorizing OAuth apps"); the others are discovered from their issuer.
const known: Readonly<Record<string, Known>> = {
  github: {
    endpoints: {
      tokenEndpoint: "https://github.com/login/oauth/access_token",
      authorizationEndpoint: "https://github.com/login/oauth/authorize",
      deviceAuthorizationEndpoint: "https://github.com/login/device/code"
    }
  },
  gitlab: { issuer: "https://gitlab.com", scope: ["openid", "read_api"] },
  google: { issuer: "https://accounts.google.com", scope: ["openid", "email"] }
}

/** @internal */
export const names: ReadonlyArray<string> = Object.keys(known)

/** @internal */
export const find = (name: string): (Known & { readonly endpoints?: Known["endpoints"] }) | undefined =>
  Object.hasOwn(known, name.toLowerCase()) ? known[name.toLowerCase()] : undefined
