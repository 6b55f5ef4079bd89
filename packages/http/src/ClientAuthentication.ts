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
import * as Redacted from "effect/Redacted"
import * as params from "./internal/params.js"

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
 * What a client sends with a request: headers and form fields. Values are `Redacted` where they are
 * secret, unwrapped only when the body is encoded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  readonly headers: Readonly<Record<string, Redacted.Redacted<string>>>
  readonly form: Readonly<Record<string, string | Redacted.Redacted<string>>>
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

/**
 * The `Authorization` header of `client_secret_basic`: the client id and secret are each
 * form-urlencoded before they are joined by a colon and base64-encoded (RFC 6749 section 2.3.1), so
 * that a secret holding `:` or `%` survives.
 *
 * @since 0.1.0
 * @category constructors
 */
export const basicAuthorization = (clientId: string, clientSecret: Redacted.Redacted<string>): Redacted.Redacted<
  string
> => {
  const pair = `${params.formEncode(clientId)}:${params.formEncode(Redacted.value(clientSecret))}`
  // The pair is ASCII after form-encoding, so btoa cannot throw.
  return Redacted.make(`Basic ${globalThis.btoa(pair)}`)
}

/**
 * The headers and form fields that authenticate `self` on a request to the token endpoint (and the
 * revocation, introspection and device authorization endpoints, which authenticate the same way).
 * For the JWT methods, only the `client_id`: the assertion is signed per request by `ClientAssertion`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const credentials = (self: ClientAuthentication): Credentials => {
  switch (self.method) {
    case "client_secret_basic":
      return { headers: { authorization: basicAuthorization(self.clientId, self.clientSecret) }, form: {} }
    case "client_secret_post":
      return { headers: {}, form: { client_id: self.clientId, client_secret: self.clientSecret } }
    case "none":
    case "client_secret_jwt":
    case "private_key_jwt":
      return { headers: {}, form: { client_id: self.clientId } }
  }
}
