import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as jose from "jose"
import * as ClientAssertion from "../ClientAssertion.js"
import type * as ClientAuthentication from "../ClientAuthentication.js"
import * as clientAuthentication from "./clientAuthentication.js"
import * as signingKey from "./signingKey.js"

/**
 * A signer of the credentials for one request: for the JWT methods a fresh assertion each time, for
 * the others their fixed credentials.
 *
 * @internal
 */
export type Signer = Effect.Effect<clientAuthentication.Credentials, OAuthError.InvalidClient>

const randomId = Effect.sync(() => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32))))

/**
 * The credentials of `authentication`, signed per request for the JWT methods. A key that cannot be
 * used fails each request with `InvalidClient` (a configuration error, described without the key).
 *
 * @internal
 */
export const make = (
  authentication: ClientAuthentication.ClientAuthentication,
  options: ClientAssertion.Options
): Effect.Effect<Signer> =>
  Effect.gen(function*() {
    const fixed = clientAuthentication.credentials(authentication)
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
        form: {
          ...fixed.form,
          client_assertion_type: ClientAssertion.assertionType,
          client_assertion: Redacted.make(assertion)
        }
      }
    })
  })
