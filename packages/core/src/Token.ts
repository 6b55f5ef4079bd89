/**
 * The token a client holds: the wire format a token endpoint answers with (`TokenResponse`, RFC 6749
 * section 5.1), the domain `Token` built from it, rotation, and the storage codec.
 *
 * Secrets are `Redacted` from the moment they are decoded.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as equivalence from "effect/Equivalence"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as Jwt from "./Jwt.js"
import * as OAuthError from "./OAuthError.js"

/**
 * A lifetime in seconds: a non-negative number, or a numeric string as some servers send it.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Seconds = Schema.Union(
  Schema.Number.pipe(Schema.finite(), Schema.nonNegative()),
  // Decimal digits only: `Number()` alone would also read "0x10", "1e3" or "" (as 0).
  Schema.compose(
    Schema.String.pipe(Schema.pattern(/^\s*\d+(?:\.\d+)?\s*$/)),
    Schema.NumberFromString
  ).pipe(Schema.finite())
).annotations({ identifier: "Seconds", description: "a non-negative number of seconds" })

// RFC 6749 appendix A.12 and A.17: tokens are printable ASCII (VSCHAR). Anything else (a line break, a
// NUL, a bidi override) could never be sent in a header, and would reach a terminal or a log as it is.
const vschars = /^[\x20-\x7e]*$/

/**
 * The token endpoint's successful answer (RFC 6749 section 5.1), snake_case as on the wire. Lenient
 * where servers differ (`expires_in` as a string, `token_type` in any case or absent, unknown fields
 * kept, but never one named `__proto__`), strict where it matters (a non-empty `access_token`, tokens
 * of printable ASCII, a non-negative `expires_in`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TokenResponse = Schema.Struct(
  {
    access_token: Schema.Redacted(Schema.NonEmptyString.pipe(Schema.pattern(vschars))),
    token_type: Schema.optional(Schema.String),
    expires_in: Schema.optional(Schema.NullOr(Seconds)),
    refresh_token: Schema.optional(Schema.Redacted(Schema.String.pipe(Schema.pattern(vschars)))),
    scope: Schema.optional(Schema.String),
    id_token: Schema.optional(Schema.Redacted(Schema.String)),
    refresh_token_expires_in: Schema.optional(Schema.NullOr(Seconds)),
    /** Keycloak's spelling of `refresh_token_expires_in`; 0 means the refresh token does not expire. */
    refresh_expires_in: Schema.optional(Schema.NullOr(Seconds))
  },
  Json.UnknownFields
).annotations({ identifier: "TokenResponse" })

/**
 * A token endpoint's successful answer (RFC 6749 section 5.1), decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type TokenResponse = typeof TokenResponse.Type

/**
 * A token endpoint's successful answer as it is on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export type TokenResponseEncoded = typeof TokenResponse.Encoded

/**
 * A JSON value, as a JWT claim is.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | ReadonlyArray<JsonValue>
  | { readonly [key: string]: JsonValue }

/**
 * A JSON value: finite numbers only, so that whatever it holds survives storage as JSON. Members
 * named `__proto__`, `constructor` or `prototype` are dropped at any depth (`Json.SafeKey`); the
 * decoder recurses, so callers bound the depth first (`Json.valueDepthExceeds`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonValue: Schema.Schema<JsonValue> = Schema.Union(
  Schema.Null,
  Schema.Boolean,
  Schema.JsonNumber,
  Schema.String,
  Schema.Array(Schema.suspend(() => JsonValue)),
  Schema.Record({ key: Json.SafeKey, value: Schema.suspend(() => JsonValue) })
).annotations({ identifier: "JsonValue" })

/**
 * The claims of an ID token that was verified (OpenID Connect Core section 2): the ones every ID
 * token has, with every other claim kept.
 *
 * @since 0.1.0
 * @category schemas
 */
export const IdTokenClaims = Schema.Struct(
  {
    iss: Schema.String,
    sub: Schema.String,
    aud: Schema.Union(Schema.String, Schema.Array(Schema.String)),
    exp: Schema.JsonNumber,
    iat: Schema.JsonNumber
  },
  Schema.Record({ key: Json.SafeKey, value: JsonValue })
).annotations({ identifier: "IdTokenClaims" })

/**
 * The claims of a verified ID token, as kept on the `Token`.
 *
 * @since 0.1.0
 * @category models
 */
export type IdTokenClaims = typeof IdTokenClaims.Type

/**
 * A token as the application holds it. `expiresAt` is absent when neither the response nor the
 * access token (as a JWT) said when it expires; such a token is refreshed only after a 401.
 *
 * @since 0.1.0
 * @category models
 */
export class Token extends Schema.Class<Token>("@tokenfx/core/Token")({
  accessToken: Schema.Redacted(Schema.NonEmptyString),
  tokenType: Schema.String,
  refreshToken: Schema.optional(Schema.Redacted(Schema.String)),
  issuedAt: Schema.DateTimeUtc,
  expiresAt: Schema.optional(Schema.DateTimeUtc),
  scopes: Schema.Array(Schema.String),
  idToken: Schema.optional(Schema.Redacted(Schema.String)),
  refreshTokenExpiresAt: Schema.optional(Schema.DateTimeUtc),
  /** Set only once `idToken` was verified (see `@tokenfx/http/IdToken`). */
  idTokenClaims: Schema.optional(IdTokenClaims)
}) {}

// An optional field left out and one set to `undefined` say the same thing.
const optionalEquivalence = <A>(self: equivalence.Equivalence<A>): equivalence.Equivalence<A | undefined> =>
  equivalence.make((a, b) => a === undefined || b === undefined ? a === b : self(a, b))

const secretEquivalence = Redacted.getEquivalence(equivalence.string)
const optionalSecret = optionalEquivalence(secretEquivalence)
const optionalInstant = optionalEquivalence(DateTime.Equivalence)
const scopesEquivalence = equivalence.array(equivalence.string)

/**
 * Two tokens are equivalent when every field is, secrets compared by value and an absent optional
 * field the same as one set to `undefined`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const Equivalence: equivalence.Equivalence<Token> = equivalence.make((a, b) =>
  secretEquivalence(a.accessToken, b.accessToken) &&
  a.tokenType === b.tokenType &&
  optionalSecret(a.refreshToken, b.refreshToken) &&
  DateTime.Equivalence(a.issuedAt, b.issuedAt) &&
  optionalInstant(a.expiresAt, b.expiresAt) &&
  scopesEquivalence(a.scopes, b.scopes) &&
  optionalSecret(a.idToken, b.idToken) &&
  optionalInstant(a.refreshTokenExpiresAt, b.refreshTokenExpiresAt)
)

/**
 * Whether a value is a `Token`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isToken = (u: unknown): u is Token => u instanceof Token

/**
 * The canonical spelling of a token type: `Bearer` and `DPoP` whatever case the server used, any
 * other type as sent, and `Bearer` when the server sent none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const canonicalTokenType = (tokenType: string | undefined): string => {
  if (tokenType === undefined || tokenType.length === 0) return "Bearer"
  switch (tokenType.toLowerCase()) {
    case "bearer":
      return "Bearer"
    case "dpop":
      return "DPoP"
    default:
      return tokenType
  }
}

/**
 * Splits a space-delimited `scope` (RFC 6749 section 3.3).
 *
 * @since 0.1.0
 * @category constructors
 */
export const parseScope = (scope: string | undefined): ReadonlyArray<string> =>
  scope === undefined ? [] : scope.split(/\s+/).filter((s) => s.length > 0)

const toMillis = (now: DateTime.Utc | number): number => typeof now === "number" ? now : DateTime.toEpochMillis(now)

// An instant a `DateTime` can hold, or `undefined`: a lifetime of 1e300 seconds must not be a defect.
const instant = (millis: number): DateTime.Utc | undefined => Option.getOrUndefined(DateTime.make(Math.round(millis)))

const afterSeconds = (now: number, seconds: number | null | undefined): DateTime.Utc | undefined =>
  // Zero is read as "not said" rather than "already expired": servers that send it mean no lifetime.
  seconds === undefined || seconds === null || seconds === 0 ? undefined : instant(now + seconds * 1000)

// Optional fields are left out rather than set to `undefined`, so that a token and its stored copy
// have the same shape.
const compact = <A extends object>(fields: A): A =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as A

const nonEmpty = (secret: Redacted.Redacted<string> | undefined): Redacted.Redacted<string> | undefined =>
  secret !== undefined && Redacted.value(secret).length > 0 ? secret : undefined

/**
 * Builds a `Token` from a decoded response received at `now` (epoch milliseconds or a `DateTime`).
 * `expiresAt` comes from `expires_in`, else from the access token's JWT `exp` claim, else none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (response: TokenResponse, now: DateTime.Utc | number): Token => {
  const issued = toMillis(now)
  const fromJwt = Jwt.expiresAtMillis(response.access_token)
  const expiresAt = afterSeconds(issued, response.expires_in) ??
    (fromJwt === undefined ? undefined : instant(fromJwt))
  return new Token(
    compact({
      accessToken: response.access_token,
      tokenType: canonicalTokenType(response.token_type),
      refreshToken: nonEmpty(response.refresh_token),
      issuedAt: DateTime.unsafeMake(issued),
      expiresAt,
      scopes: parseScope(response.scope),
      idToken: nonEmpty(response.id_token),
      refreshTokenExpiresAt: afterSeconds(issued, response.refresh_token_expires_in ?? response.refresh_expires_in)
    }),
    trusted(response)
  )
}

// Every field `make` builds has its schema's type by construction but one: a non-empty access token,
// which only a `TokenResponse` built by hand can lack. Running the schema over the rest cost about 70 µs
// per token (each refresh makes one or two) and copied the secrets: only a token that may lack it is
// validated (and refused, as before).
const trusted = (response: TokenResponse): boolean =>
  Redacted.isRedacted(response.access_token) && nonEmpty(response.access_token) !== undefined

/**
 * Builds a `Token` from a decoded response, reading the time from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (response: TokenResponse): Effect.Effect<Token> =>
  Effect.map(DateTime.now, (now) => make(response, now))

/**
 * The token after a refresh at `now`: the new response wins, but the previous refresh token, scopes
 * (RFC 6749 section 6) and ID token (OpenID Connect Core section 12.2) are kept where it omits them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rotateAt = (previous: Token, response: TokenResponse, now: DateTime.Utc | number): Token => {
  const next = make(response, now)
  if (next.refreshToken !== undefined && next.scopes.length > 0 && next.idToken !== undefined) return next
  return new Token(
    compact({
      ...next,
      // OpenID Connect (Core section 12.2): a refresh answer may omit the ID token; the last one stands.
      idToken: next.idToken ?? previous.idToken,
      idTokenClaims: next.idToken === undefined ? previous.idTokenClaims : next.idTokenClaims,
      refreshToken: next.refreshToken ?? previous.refreshToken,
      refreshTokenExpiresAt: next.refreshToken === undefined
        ? previous.refreshTokenExpiresAt
        : next.refreshTokenExpiresAt,
      scopes: next.scopes.length > 0 ? next.scopes : previous.scopes
    }),
    true
  )
}

/**
 * {@link rotateAt}, reading the time from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rotate = (previous: Token, response: TokenResponse): Effect.Effect<Token> =>
  Effect.map(DateTime.now, (now) => rotateAt(previous, response, now))

/**
 * `self` with the ID token (and its verified claims) of `source`, or without one when `source` has none.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withIdToken = (self: Token, source: Token): Token =>
  new Token(compact({ ...self, idToken: source.idToken, idTokenClaims: source.idTokenClaims }), true)

// Compares two secrets without unwrapping them here.
const sameSecret = Redacted.getEquivalence(equivalence.string)

/**
 * Whether the refresh tokens of two tokens are the same secret (both absent counts as the same).
 *
 * @since 0.1.0
 * @category combinators
 */
export const sameRefreshToken = (a: Token, b: Token): boolean =>
  a.refreshToken === undefined || b.refreshToken === undefined
    ? a.refreshToken === b.refreshToken
    : sameSecret(a.refreshToken, b.refreshToken)

/**
 * Whether two tokens carry the same access token.
 *
 * @since 0.1.0
 * @category combinators
 */
export const sameAccessToken = (a: Token, b: Token): boolean => sameSecret(a.accessToken, b.accessToken)

const decodeResponse = Schema.decodeUnknownEither(TokenResponse)

/**
 * Decodes a token endpoint's JSON body (already parsed) into a `TokenResponse`, or fails with a
 * `OAuthError.MalformedResponse` naming the wrong field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decodeResponseEither = (
  body: unknown,
  context?: { readonly status?: number | undefined; readonly endpoint?: string | undefined }
): Either.Either<TokenResponse, OAuthError.MalformedResponse> =>
  decodeResponse(body).pipe(Either.mapLeft((error) => OAuthError.MalformedResponse.fromParseError(error, context)))

/**
 * Decodes a token endpoint's JSON body and builds the `Token`, reading the time from `Clock`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromBody = (
  body: unknown,
  context?: { readonly status?: number | undefined; readonly endpoint?: string | undefined }
): Effect.Effect<Token, OAuthError.MalformedResponse> =>
  Effect.flatMap(decodeResponseEither(body, context), fromResponse)
