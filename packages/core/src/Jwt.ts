/**
 * Reading a JWT's claims without verifying it: enough to learn when an access token expires, which
 * scopes it carries, or who it is for. Verification is the resource server's job.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as OAuthError from "./OAuthError.js"

/**
 * A value that is not a JWT, or whose claims do not decode. The token itself is never kept.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidJwt extends Schema.TaggedError<InvalidJwt>("@tokenfx/core/InvalidJwt")("InvalidJwt", {
  reason: Schema.String
}) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message(): string {
    return `Not a valid JWT: ${this.reason}`
  }
}

/**
 * The registered claims tokenfx reads (RFC 7519 section 4.1), plus any others, kept as sent.
 * Times are NumericDate: seconds since the epoch.
 *
 * @since 0.1.0
 * @category models
 */
export const Claims = Schema.Struct(
  {
    iss: Schema.optional(Schema.String),
    sub: Schema.optional(Schema.String),
    aud: Schema.optional(Schema.Union(Schema.String, Schema.Array(Schema.String))),
    exp: Schema.optional(Schema.Number),
    nbf: Schema.optional(Schema.Number),
    iat: Schema.optional(Schema.Number),
    jti: Schema.optional(Schema.String),
    scope: Schema.optional(Schema.String),
    client_id: Schema.optional(Schema.String)
  },
  Json.UnknownFields
)

/**
 * The claims of a decoded JWT: the registered ones typed, any other kept as it came.
 *
 * @since 0.1.0
 * @category models
 */
export type Claims = typeof Claims.Type

const decodeClaims = Schema.decodeUnknownEither(Claims)

const decodeSegment = (segment: string, name: string): Either.Either<unknown, InvalidJwt> =>
  Encoding.decodeBase64UrlString(segment).pipe(
    Either.mapLeft(() => new InvalidJwt({ reason: `${name} is not base64url` })),
    Either.flatMap((text) =>
      Either.mapLeft(
        Json.parse(text),
        (problem) => new InvalidJwt({ reason: `${name} is ${problem === "too deeply nested" ? problem : "not JSON"}` })
      )
    )
  )

/**
 * Decodes the claims of a compact JWS (`header.payload.signature`) without checking the signature.
 *
 * @since 0.1.0
 * @category constructors
 */
export const claimsEither = (jwt: string | Redacted.Redacted<string>): Either.Either<Claims, InvalidJwt> => {
  const value = typeof jwt === "string" ? jwt : Redacted.value(jwt)
  const parts = value.split(".")
  if (parts.length !== 3) {
    return Either.left(new InvalidJwt({ reason: `expected 3 dot-separated parts, got ${parts.length}` }))
  }
  return decodeSegment(parts[0], "header").pipe(
    Either.flatMap((header) =>
      typeof header === "object" && header !== null && !Array.isArray(header)
        ? decodeSegment(parts[1], "payload")
        : Either.left(new InvalidJwt({ reason: "header is not a JSON object" }))
    ),
    Either.flatMap((payload) =>
      decodeClaims(payload).pipe(
        Either.mapLeft(() => new InvalidJwt({ reason: "payload is not a claims object" }))
      )
    )
  )
}

/**
 * Effectful {@link claimsEither}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const claims = (jwt: string | Redacted.Redacted<string>): Effect.Effect<Claims, InvalidJwt> => claimsEither(jwt)

/**
 * The `exp` claim in epoch milliseconds, if the value is a JWT that has one.
 *
 * @since 0.1.0
 * @category combinators
 */
export const expiresAtMillis = (jwt: string | Redacted.Redacted<string>): number | undefined => {
  const result = claimsEither(jwt)
  return Either.isRight(result) && result.right.exp !== undefined && Number.isFinite(result.right.exp)
    ? result.right.exp * 1000
    : undefined
}
