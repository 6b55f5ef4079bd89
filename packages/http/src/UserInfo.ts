/**
 * OpenID Connect UserInfo (Core section 5.3): the claims about the user, read with the access token.
 * The answer's `sub` must be the verified ID token's (Core section 5.3.4), or the claims belong to
 * someone else and are refused.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Dpop from "./Dpop.js"
import * as narrow from "./internal/narrow.js"
import * as transport from "./internal/transport.js"
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
 * The errors reading UserInfo can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type UserInfoError =
  | SubjectMismatch
  | OAuthError.InvalidToken
  | OAuthError.InsufficientScope
  | OAuthError.InvalidRequest
  | TokenEndpointError.RequestError

/**
 * How UserInfo is asked for: the endpoint, and the subject the ID token named.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The subject expected; by default the `sub` of the token's verified ID token. */
  readonly subject?: string | undefined
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
      token: { scheme, value: token.accessToken }
    }, transport.settings(options)).pipe(Effect.mapError(narrowed))
    const info = yield* decodeUserInfo(answer)
    if (info.sub !== subject) return yield* new SubjectMismatch({ reason: "Mismatch" })
    return info
  }
)
