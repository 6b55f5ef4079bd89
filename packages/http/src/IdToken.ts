/**
 * OpenID Connect ID token validation (OpenID Connect Core sections 3.1.3.7 and 3.1.3.8): the
 * signature against the issuer's key set, the algorithm (asymmetric only: never `none`, never HMAC
 * with a published key), `iss`, `aud`, `azp`, `exp` and `iat` on `Clock`, the `nonce` sent with the
 * authorization request, and `at_hash` / `c_hash` where present. Each failed check is its own
 * `reason` of `InvalidIdToken`.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as jwtVerify from "./internal/jwtVerify.js"
import type * as Jwks from "./Jwks.js"

/**
 * An ID token that failed a check. `reason` names the check; nothing of the token is quoted.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidIdToken extends Schema.TaggedError<InvalidIdToken>("@tokenfx/http/InvalidIdToken")(
  "InvalidIdToken",
  {
    reason: Schema.Literal(
      ...jwtVerify.reasons,
      "AuthorizedParty",
      "Nonce",
      "AccessTokenHash",
      "CodeHash",
      "Subject",
      "AuthTime",
      "Unverifiable"
    ),
    description: Schema.String
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `The ID token was refused (${this.reason}): ${this.description}`
  }
}

/**
 * The errors verifying an ID token can fail with: a failed check, or no key set to check against.
 *
 * @since 0.1.0
 * @category errors
 */
export type VerifyError = InvalidIdToken | Jwks.JwksError

/**
 * How ID tokens are checked.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  /** The algorithms accepted; by default every asymmetric JWS algorithm. HMAC and `none` are never accepted. */
  readonly algorithms?: ReadonlyArray<string> | undefined
  /** Leeway for `exp`, `nbf` and `iat` against `Clock`; default 30 seconds. */
  readonly clockSkew?: Duration.DurationInput | undefined
}

/**
 * What one ID token is checked against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Expected extends Policy {
  readonly issuer: string
  readonly clientId: string
  /**
   * The `nonce` sent in the authorization request: the claim must equal it. `null` when none was
   * sent (the claim must then be absent); `undefined` leaves it unchecked (a refresh).
   */
  readonly nonce?: string | null | undefined
  /** The access token issued with it, checked against `at_hash` when the claim is present. */
  readonly accessToken?: Redacted.Redacted<string> | undefined
  /** The authorization code it was issued for, checked against `c_hash` when the claim is present. */
  readonly code?: Redacted.Redacted<string> | undefined
  /** The subject it must be about: on a refresh, the `sub` of the first ID token (Core section 12.2). */
  readonly subject?: string | undefined
  /** The `max_age` (seconds) of the authorization request: `auth_time` must be present and recent enough. */
  readonly maxAge?: number | undefined
}

const decodeClaims = Schema.decodeUnknownEither(Token.IdTokenClaims)

const fail = (reason: InvalidIdToken["reason"], description: string) =>
  Effect.fail(new InvalidIdToken({ reason, description }))

const hashName = (alg: string): string | undefined => {
  if (alg === "EdDSA" || alg === "Ed25519") return "SHA-512"
  const bits = /(256|384|512)$/.exec(alg)?.[1]
  return bits === undefined ? undefined : `SHA-${bits}`
}

/**
 * The `at_hash` / `c_hash` of `value` for a token signed with `alg`: the left half of its hash with
 * the algorithm's hash function, base64url (OpenID Connect Core section 3.1.3.6).
 *
 * @since 0.1.0
 * @category constructors
 */
export const halfHash = (value: Redacted.Redacted<string>, alg: string): Effect.Effect<string | undefined> => {
  const name = hashName(alg)
  if (name === undefined) return Effect.succeed(undefined)
  return Effect.promise(() => globalThis.crypto.subtle.digest(name, new TextEncoder().encode(Redacted.value(value))))
    .pipe(Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest, 0, digest.byteLength / 2))))
}

const checkHash = (
  claim: unknown,
  value: Redacted.Redacted<string> | undefined,
  alg: string,
  reason: "AccessTokenHash" | "CodeHash",
  name: string
): Effect.Effect<void, InvalidIdToken> => {
  if (claim === undefined || value === undefined) return Effect.void
  return Effect.flatMap(halfHash(value, alg), (expected) =>
    expected !== undefined && claim === expected
      ? Effect.void
      : fail(reason, `the ${name} claim does not match`))
}

/**
 * Verifies `idToken` with the keys of `jwks` and returns its claims.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verify: (
  jwks: Jwks.Jwks,
  idToken: Redacted.Redacted<string>,
  expected: Expected
) => Effect.Effect<Token.IdTokenClaims, VerifyError> = Effect.fn("IdToken.verify")(
  function*(jwks: Jwks.Jwks, idToken: Redacted.Redacted<string>, expected: Expected) {
    const { algorithms, clockSkew } = jwtVerify.policy(expected)
    const result = yield* jwtVerify.verify(jwks, Redacted.value(idToken), {
      algorithms,
      issuer: expected.issuer,
      audience: expected.clientId,
      clockSkew,
      requiredClaims: ["iss", "sub", "aud", "exp", "iat"]
    }).pipe(
      Effect.catchTag("Rejection", (rejection) => fail(rejection.reason, rejection.description))
    )
    const claims = decodeClaims(result.payload)
    if (Either.isLeft(claims)) return yield* fail("MissingClaim", "a required claim is missing or of the wrong type")
    const payload = claims.right
    const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    if (payload.iat > now + Duration.toSeconds(clockSkew)) {
      return yield* fail("IssuedAt", "the token was issued in the future")
    }
    const audiences = typeof payload.aud === "string" ? [payload.aud] : payload.aud
    const azp = payload["azp"]
    if (azp !== undefined && azp !== expected.clientId) {
      return yield* fail("AuthorizedParty", "the azp claim names another client")
    }
    if (audiences.length > 1 && azp === undefined) {
      return yield* fail("AuthorizedParty", "the token has several audiences and no azp claim")
    }
    const nonce = payload["nonce"]
    if (expected.nonce === null && nonce !== undefined) {
      return yield* fail("Nonce", "the token has a nonce, but none was sent")
    }
    if (typeof expected.nonce === "string" && nonce !== expected.nonce) {
      return yield* fail("Nonce", "the nonce claim does not match the one sent")
    }
    if (expected.subject !== undefined && payload.sub !== expected.subject) {
      return yield* fail("Subject", "the token is about another subject")
    }
    if (expected.maxAge !== undefined) {
      const authTime = payload["auth_time"]
      if (typeof authTime !== "number") return yield* fail("AuthTime", "the auth_time claim is missing")
      if (authTime + expected.maxAge + Duration.toSeconds(clockSkew) < now) {
        return yield* fail("AuthTime", "the user authenticated longer ago than max_age allows")
      }
    }
    const alg = result.protectedHeader.alg
    yield* checkHash(payload["at_hash"], expected.accessToken, alg, "AccessTokenHash", "at_hash")
    yield* checkHash(payload["c_hash"], expected.code, alg, "CodeHash", "c_hash")
    return payload
  }
)

/**
 * Verifies the ID token of `token`, if it has one, and returns the token with its claims. A token
 * without an ID token is returned as it is.
 *
 * @since 0.1.0
 * @category combinators
 */
export const verifyToken = (
  jwks: Jwks.Jwks,
  token: Token.Token,
  expected: Omit<Expected, "accessToken">
): Effect.Effect<Token.Token, VerifyError> =>
  token.idToken === undefined
    ? Effect.succeed(token)
    : Effect.map(
      verify(jwks, token.idToken, { ...expected, accessToken: token.accessToken }),
      (idTokenClaims) => new Token.Token({ ...token, idTokenClaims })
    )
