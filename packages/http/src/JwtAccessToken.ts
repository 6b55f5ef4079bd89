/**
 * JWT access tokens (RFC 9068) verified by a resource server built with Effect: the `at+jwt` type, the
 * signature against the issuer's key set (asymmetric algorithms only), `iss`, `aud` (the resource
 * server's identifier), `exp` / `iat` on `Clock`, the claims RFC 9068 requires, and the scopes the
 * request needs. A failure is `InvalidToken` (answer 401) or `InsufficientScope` (answer 403), as RFC
 * 6750 section 3.1 names them; the token is never quoted.
 *
 * @since 0.1.0
 */
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as jwtVerify from "./internal/jwtVerify.js"
import type * as Jwks from "./Jwks.js"

/**
 * The claims every RFC 9068 access token has (section 2.2), with every other claim kept but
 * `__proto__`, `constructor` and `prototype` (`Json.UnknownFields`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Claims = Schema.Struct(
  {
    iss: Schema.String,
    sub: Schema.String,
    aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
    exp: Schema.Number,
    iat: Schema.Number,
    jti: Schema.String,
    client_id: Schema.String,
    scope: Schema.optional(Schema.String)
  },
  Json.UnknownFields
).annotations({ identifier: "JwtAccessTokenClaims" })

/**
 * The claims of a verified RFC 9068 access token.
 *
 * @since 0.1.0
 * @category models
 */
export type Claims = typeof Claims.Type

/**
 * What an access token is checked against.
 *
 * @since 0.1.0
 * @category models
 */
export interface Expected {
  readonly issuer: string
  /** The resource server's identifier: the token's `aud` must contain it. */
  readonly audience: string
  /** Scopes the request needs; a token without one of them is `InsufficientScope`. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** By default every asymmetric JWS algorithm. */
  readonly algorithms?: ReadonlyArray<string> | undefined
  /** Leeway for `exp`, `nbf` and `iat`; default 30 seconds. */
  readonly clockSkew?: Duration.DurationInput | undefined
}

/**
 * The errors verifying an access token can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type VerifyError = OAuthError.InvalidToken | OAuthError.InsufficientScope | Jwks.JwksError

const decodeClaims = Schema.decodeUnknownEither(Claims)

const invalid = (description: string) => new OAuthError.InvalidToken({ description, status: 401 })

/**
 * Verifies a JWT access token (as received in `Authorization: Bearer`) and returns its claims.
 *
 * @since 0.1.0
 * @category constructors
 */
export const verify: (
  jwks: Jwks.Jwks,
  accessToken: Redacted.Redacted<string>,
  expected: Expected
) => Effect.Effect<Claims, VerifyError> = Effect.fn("JwtAccessToken.verify")(
  function*(jwks: Jwks.Jwks, accessToken: Redacted.Redacted<string>, expected: Expected) {
    const result = yield* jwtVerify.verify(jwks, Redacted.value(accessToken), {
      ...jwtVerify.policy(expected),
      issuer: expected.issuer,
      audience: expected.audience,
      typ: "at+jwt",
      requiredClaims: ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]
    }).pipe(
      Effect.catchTag("Rejection", (rejection) => Effect.fail(invalid(rejection.description)))
    )
    const claims = decodeClaims(result.payload)
    if (Either.isLeft(claims)) return yield* invalid("a required claim is missing or of the wrong type")
    const granted = new Set(Token.parseScope(claims.right.scope))
    const required = expected.scopes ?? []
    if (required.some((scope) => !granted.has(scope))) {
      return yield* new OAuthError.InsufficientScope({
        description: "the token lacks a scope the request needs",
        status: 403,
        scope: required.join(" ")
      })
    }
    return claims.right
  }
)
