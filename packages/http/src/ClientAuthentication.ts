/**
 * How a client proves who it is to the token endpoint (RFC 6749 section 2.3): `client_secret_basic`,
 * `client_secret_post`, or `none` for a public client that sends only its `client_id`; or a signed
 * assertion per request (RFC 7523 section 2.2, OpenID Connect Core section 9): `private_key_jwt`
 * with the client's private key, `client_secret_jwt` with its secret (see `ClientAssertion`).
 *
 * The secret stays `Redacted` until the request is built.
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"

/**
 * How a client authenticates at the token endpoint (RFC 6749 section 2.3, OpenID Connect Core section 9).
 *
 * @since 0.1.0
 * @category models
 */
export type Method = "client_secret_basic" | "client_secret_post" | "none" | "private_key_jwt" | "client_secret_jwt"

/**
 * A client and the way it authenticates.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthentication =
  | {
    readonly method: "client_secret_basic" | "client_secret_post"
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted<string>
  }
  | {
    readonly method: "none"
    readonly clientId: string
  }
  | {
    readonly method: "client_secret_jwt"
    readonly clientId: string
    readonly clientSecret: Redacted.Redacted<string>
  }
  | {
    readonly method: "private_key_jwt"
    readonly clientId: string
    /** A private JWK (JSON) or PKCS #8 PEM. */
    readonly privateKey: Redacted.Redacted<string>
  }

/**
 * Builds a client's authentication. Without `method`, a client with a secret uses
 * `client_secret_basic` (the method every server must support, RFC 6749 section 2.3.1), or
 * `client_secret_post` when `supported` (the server's `token_endpoint_auth_methods_supported`) lists
 * only that one; a client without a secret is public (`none`). A secret-based method without a secret
 * falls back to `none`. A client with a private key uses `private_key_jwt`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly privateKey?: Redacted.Redacted<string> | undefined
  readonly method?: Method | undefined
  readonly supported?: ReadonlyArray<string> | undefined
}): ClientAuthentication => {
  const { clientId, clientSecret, privateKey } = options
  if (privateKey !== undefined && (options.method === undefined || options.method === "private_key_jwt")) {
    return { method: "private_key_jwt", clientId, privateKey }
  }
  if (clientSecret === undefined || options.method === "none" || options.method === "private_key_jwt") {
    return { method: "none", clientId }
  }
  if (options.method !== undefined) return { method: options.method, clientId, clientSecret }
  const supported = options.supported
  const method = supported !== undefined && !supported.includes("client_secret_basic") &&
      supported.includes("client_secret_post")
    ? "client_secret_post"
    : "client_secret_basic"
  return { method, clientId, clientSecret }
}
