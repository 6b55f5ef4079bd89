/**
 * Proof Key for Code Exchange (RFC 7636) and the random `state` and `nonce` values of an
 * authorization request, all drawn from WebCrypto.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as OAuthError from "./OAuthError.js"

/**
 * A code verifier: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`
 * (RFC 7636 section 4.1).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Verifier = Schema.String.pipe(
  Schema.minLength(43),
  Schema.maxLength(128),
  Schema.pattern(/^[A-Za-z0-9\-._~]+$/)
).annotations({ identifier: "Verifier" })

/**
 * A PKCE pair (RFC 7636): the secret verifier, kept `Redacted`, and its S256 challenge.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pkce {
  readonly verifier: Redacted.Redacted<string>
  readonly challenge: string
  readonly method: "S256"
}

/**
 * A verifier that breaks RFC 7636's rules.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidVerifier extends Schema.TaggedError<InvalidVerifier>("@tokenfx/core/InvalidVerifier")(
  "InvalidVerifier",
  { length: Schema.Number }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message(): string {
    return `A PKCE verifier must be 43 to 128 unreserved characters (got ${this.length} characters)`
  }
}

/**
 * `bytes` random bytes from WebCrypto, base64url without padding.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomString = (bytes: number): Effect.Effect<string> =>
  Effect.sync(() => Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(bytes))))

/**
 * A fresh verifier: 32 random bytes give 43 characters; 96 give the maximum 128.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verifier = (bytes = 32): Effect.Effect<Redacted.Redacted<string>> =>
  Effect.map(
    randomString(Number.isFinite(bytes) ? Math.min(96, Math.max(32, Math.floor(bytes))) : 32),
    Redacted.make
  )

const verifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/

/**
 * The S256 challenge of a verifier: `BASE64URL(SHA256(ASCII(verifier)))`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const challenge = (verifier: Redacted.Redacted<string>): Effect.Effect<string, InvalidVerifier> => {
  const value = Redacted.value(verifier)
  if (!verifierPattern.test(value)) return Effect.fail(new InvalidVerifier({ length: value.length }))
  return Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(value))).pipe(
    Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest)))
  )
}

/**
 * A fresh verifier and its S256 challenge.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Pkce> = Effect.gen(function*() {
  const v = yield* verifier()
  const c = yield* Effect.orDie(challenge(v))
  return { verifier: v, challenge: c, method: "S256" as const }
})

/**
 * A fresh `state` value for an authorization request (256 bits).
 *
 * @since 0.1.0
 * @category constructors
 */
export const state: Effect.Effect<string> = randomString(32)

/**
 * A fresh OpenID Connect `nonce` (256 bits).
 *
 * @since 0.1.0
 * @category constructors
 */
export const nonce: Effect.Effect<string> = randomString(32)
