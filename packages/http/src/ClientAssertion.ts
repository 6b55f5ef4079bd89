/**
 * Client assertions (RFC 7523 section 2.2, OpenID Connect Core section 9): for `private_key_jwt` and
 * `client_secret_jwt`, a short-lived JWT signed per request, with `iss` and `sub` the client id, `aud`
 * the token endpoint (or what the server expects), a unique `jti` from WebCrypto, and `iat` / `exp`
 * from `Clock`. The key is imported once, non-extractable; neither the key nor an assertion appears in
 * an error, log or span.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import * as ClientAuthentication from "./ClientAuthentication.js"
import * as signingKey from "./internal/signingKey.js"

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

/**
 * A signer of the credentials for one request: for the JWT methods a fresh assertion each time, for
 * the others their fixed credentials.
 *
 * @since 0.1.0
 * @category models
 */
export type Signer = Effect.Effect<ClientAuthentication.Credentials, OAuthError.InvalidClient>

const randomId = Effect.sync(() => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32))))

/**
 * The credentials of `authentication`, signed per request for the JWT methods. A key that cannot be
 * used fails each request with `InvalidClient` (a configuration error, described without the key).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  authentication: ClientAuthentication.ClientAuthentication,
  options: Options
): Effect.Effect<Signer> =>
  Effect.gen(function*() {
    const fixed = ClientAuthentication.credentials(authentication)
    if (authentication.method !== "private_key_jwt" && authentication.method !== "client_secret_jwt") {
      return Effect.succeed(fixed)
    }
    const lifetime = Math.max(1, Math.round(Duration.toSeconds(options.lifetime ?? Duration.seconds(60))))
    const invalid = (reason: string) =>
      new OAuthError.InvalidClient({
        description: `the client assertion cannot be signed: ${reason}`,
        endpoint: options.endpoint
      })
    const key = authentication.method === "private_key_jwt"
      ? yield* Effect.cached(
        signingKey.importPrivate(authentication.privateKey, options.algorithm ?? "ES256").pipe(
          Effect.map((pair) => ({ key: pair.privateKey as CryptoKey | Uint8Array, kid: pair.kid })),
          Effect.mapError(invalid)
        )
      )
      : Effect.sync(() => ({
        key: new TextEncoder().encode(Redacted.value(authentication.clientSecret)) as CryptoKey | Uint8Array,
        kid: undefined as string | undefined
      }))
    const alg = options.algorithm ?? (authentication.method === "private_key_jwt" ? "ES256" : "HS256")
    return Effect.gen(function*() {
      const { key: signing, kid } = yield* key
      const iat = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const jti = yield* randomId
      const assertion = yield* Effect.tryPromise({
        try: () =>
          new jose.SignJWT({
            iss: authentication.clientId,
            sub: authentication.clientId,
            aud: options.audience,
            jti,
            iat,
            exp: iat + lifetime
          })
            .setProtectedHeader(kid === undefined ? { alg } : { alg, kid })
            .sign(signing),
        catch: () => invalid(`the key cannot sign with ${alg}`)
      })
      return {
        headers: fixed.headers,
        form: { ...fixed.form, client_assertion_type: assertionType, client_assertion: Redacted.make(assertion) }
      }
    })
  })
