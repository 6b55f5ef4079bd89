/**
 * Client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): for `private_key_jwt` and
 * `client_secret_jwt`, a short-lived JWT signed per request, with `iss` and `sub` the client id, `aud`
 * the token endpoint (or what the server expects), a unique `jti` from WebCrypto, and `iat` / `exp`
 * from `Clock`. The key is imported once, non-extractable; neither the key nor an assertion appears in
 * an error, log or span.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"

/**
 * The `client_assertion_type` of a JWT assertion.
 *
 * @since 0.1.0
 * @category models
 */
export const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/**
 * How client assertions are made: the key, the algorithm and the audience.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The assertion's `aud`: by default the token endpoint (OpenID Connect Core section 9). */
  readonly audience: string
  /** `private_key_jwt`: by default ES256; `client_secret_jwt`: by default HS256. */
  readonly algorithm?: string | undefined
  /** The assertion's lifetime; default 60 seconds. */
  readonly lifetime?: Duration.DurationInput | undefined
  /** Where errors say the failure happened. */
  readonly endpoint?: string | undefined
}
