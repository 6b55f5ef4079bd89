/**
 * OpenID Connect UserInfo (Core section 5.3): the claims about the user, read with the access token.
 * The answer's `sub` must be the verified ID token's (Core section 5.3.4), or the claims belong to
 * someone else and are refused. A client registered for signed answers (`userinfo_signed_response_alg`)
 * passes the issuer's key set as `signed`: the answer must then be a JWT signed by the issuer for this
 * client (Core section 5.3.2), checked as an ID token's signature is.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Dpop from "./Dpop.js"
import type * as IdToken from "./IdToken.js"
import * as jwtVerify from "./internal/jwtVerify.js"
import * as narrow from "./internal/narrow.js"
import * as transport from "./internal/transport.js"
import type * as Jwks from "./Jwks.js"
import type * as TokenEndpointError from "./TokenEndpointError.js"

/**
 * The UserInfo answer: `sub` and every other claim but `__proto__`, `constructor` and `prototype`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const UserInfo = Schema.Struct(
  { sub: Schema.String },
  Json.UnknownFields
).annotations({ identifier: "UserInfo" })

/**
 * The decoded type of `UserInfo`.
 *
 * @since 0.1.0
 * @category models
 */
export type UserInfo = typeof UserInfo.Type

/**
 * The answer is about another subject than the ID token, or there is no verified ID token to compare
 * it with.
 *
 * @since 0.1.0
 * @category errors
 */
export class SubjectMismatch extends Schema.TaggedError<SubjectMismatch>("@tokenfx/http/SubjectMismatch")(
  "SubjectMismatch",
  { reason: Schema.Literal("Mismatch", "Unknown") }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return this.reason === "Mismatch"
      ? "The UserInfo answer is about another subject than the ID token"
      : "No verified ID token subject to check the UserInfo answer against"
  }
}

/**
 * A signed UserInfo answer that failed a check, or an answer of another form than the one asked for:
 * `Unsigned` (JSON, where a signed JWT was asked for), `Unverifiable` (a JWT, where no key set was
 * given to check it), `Encrypted` (a JWE, which is not supported), or the check of the JWT that
 * failed. Nothing of the answer is quoted.
 *
 * @since 0.6.0
 * @category errors
 */
export class InvalidUserInfo extends Schema.TaggedError<InvalidUserInfo>("@tokenfx/http/InvalidUserInfo")(
  "InvalidUserInfo",
  {
    reason: Schema.Literal("Unsigned", "Unverifiable", "Encrypted", ...jwtVerify.reasons),
    description: Schema.String
  }
) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.6.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId

  override get message(): string {
    return `The UserInfo answer was refused (${this.reason}): ${this.description}`
  }
}

/**
 * The errors reading UserInfo can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type UserInfoError =
  | SubjectMismatch
  | InvalidUserInfo
  | Jwks.JwksError
  | OAuthError.InvalidToken
  | OAuthError.InsufficientScope
  | OAuthError.InvalidRequest
  | TokenEndpointError.RequestError

/**
 * What a signed answer is checked against: the issuer's key set, its issuer identifier, and this
 * client's id (the `aud` it must name). The algorithms and clock skew are an ID token's (asymmetric
 * only; 30 seconds).
 *
 * @since 0.6.0
 * @category models
 */
export interface Signed extends IdToken.Policy {
  readonly jwks: Jwks.Jwks
  readonly issuer: string
  readonly clientId: string
}

/**
 * How UserInfo is asked for: the endpoint, and the subject the ID token named.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The subject expected; by default the `sub` of the token's verified ID token. */
  readonly subject?: string | undefined
  /**
   * For a client registered with `userinfo_signed_response_alg`: the answer is asked for as
   * `application/jwt` and must be a JWT that verifies against these; anything else is refused.
   */
  readonly signed?: Signed | undefined
  /** The key a DPoP-bound token is bound to: each request then carries its proof. */
  readonly dpop?: Dpop.Dpop | undefined
  /** Per request; default 10 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** The most bytes of the answer read; default 1 MiB. A larger answer is a `MalformedResponse`. */
  readonly maxBodySize?: number | undefined
  readonly allowInsecureHttp?: boolean | undefined
}

const narrowed = narrow.narrow([...narrow.serverTags, "InvalidToken", "InsufficientScope", "InvalidRequest"])
const decodeUserInfo = transport.decode(UserInfo)
const decodeClaims = Schema.decodeUnknownEither(UserInfo)
const jwt = "application/jwt"

const invalid = (reason: InvalidUserInfo["reason"], description: string) =>
  Effect.fail(new InvalidUserInfo({ reason, description }))

// Core section 5.3.2: signed by the issuer, for this client (`iss` and `aud` required).
const read = (
  answer: transport.Answer,
  signed: Signed | undefined
): Effect.Effect<UserInfo, OAuthError.MalformedResponse | InvalidUserInfo | Jwks.JwksError> =>
  Effect.gen(function*() {
    if (answer.mediaType !== jwt) {
      return yield* signed === undefined
        ? decodeUserInfo(answer)
        : invalid("Unsigned", "the answer is not a signed JWT, though one was asked for")
    }
    if (signed === undefined) {
      return yield* invalid("Unverifiable", "the answer is a signed JWT: pass the issuer's key set as `signed`")
    }
    const compact = answer.body.trim()
    if (compact.split(".").length === 5) {
      return yield* invalid("Encrypted", "the answer is encrypted (JWE), which is not supported")
    }
    const result = yield* jwtVerify.verify(signed.jwks, compact, {
      ...jwtVerify.policy(signed),
      issuer: signed.issuer,
      audience: signed.clientId,
      requiredClaims: ["iss", "aud", "sub"]
    }).pipe(Effect.catchTag("Rejection", (rejection) => invalid(rejection.reason, rejection.description)))
    const claims = decodeClaims(result.payload)
    return Either.isRight(claims)
      ? claims.right
      : yield* invalid("MissingClaim", "a claim is missing or of the wrong type")
  })

/**
 * Reads the claims at `endpoint` (the metadata's `userinfo_endpoint`) with `token`'s access token.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fetch: (
  endpoint: string,
  token: Token.Token,
  options?: Options
) => Effect.Effect<UserInfo, UserInfoError, HttpClient.HttpClient> = Effect.fn("UserInfo.fetch")(
  function*(endpoint: string, token: Token.Token, options: Options = {}) {
    const subject = options.subject ?? token.idTokenClaims?.sub
    if (subject === undefined) return yield* new SubjectMismatch({ reason: "Unknown" })
    const base = yield* HttpClient.HttpClient
    const client = options.dpop === undefined ? base : Dpop.withProofs(base, options.dpop)
    const scheme = token.tokenType === "DPoP" ? "DPoP" : "Bearer"
    const answer = yield* transport.send(client, {
      method: "GET",
      url: endpoint,
      token: { scheme, value: token.accessToken },
      accept: options.signed === undefined ? undefined : jwt
    }, transport.settings(options)).pipe(Effect.mapError(narrowed))
    const info = yield* read(answer, options.signed)
    if (info.sub !== subject) return yield* new SubjectMismatch({ reason: "Mismatch" })
    return info
  }
)
