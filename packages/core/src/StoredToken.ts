/**
 * A token as stores keep it: JSON text in a versioned envelope (`{ format: 1, token }`), secrets
 * included, and back. The one place where secrets are unwrapped for storage; a stored text that does
 * not decode is a `MalformedStoredToken` that says where, never what it held.
 *
 * @since 0.4.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as OAuthError from "./OAuthError.js"
import * as Token from "./Token.js"

/**
 * A stored token that does not decode. Says where, never what it held.
 *
 * @since 0.4.0
 * @category errors
 */
export class MalformedStoredToken extends Schema.TaggedError<MalformedStoredToken>(
  "@tokenfx/core/MalformedStoredToken"
)("MalformedStoredToken", { reason: Schema.String }) {
  /**
   * Marks the error for `OAuthError.isOAuthError`.
   *
   * @since 0.4.0
   */
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message(): string {
    return `Stored token does not decode: ${this.reason}`
  }
}

const Stored = Schema.Struct({
  format: Schema.Literal(1),
  token: Token.Token
})

/**
 * The storage codec: a `Token` as JSON text, secrets included, and back. It round-trips exactly and
 * is the one place where secrets are unwrapped for storage.
 *
 * @since 0.4.0
 * @category schemas
 */
export const StoredToken: Schema.Schema<Token.Token, string> = Schema.transform(
  Schema.parseJson(Stored),
  Schema.typeSchema(Token.Token),
  {
    strict: true,
    decode: (stored) => stored.token,
    encode: (token) => ({ format: 1 as const, token })
  }
)

const encodeStored = Schema.encodeSync(StoredToken)
const decodeStored = Schema.decodeUnknownEither(StoredToken)

/**
 * Encodes a token for storage.
 *
 * @since 0.4.0
 * @category combinators
 */
export const toJson = (token: Token.Token): string => encodeStored(token)

/**
 * Decodes a stored token; the error names the wrong field, never the text it read (which holds
 * secrets).
 *
 * @since 0.4.0
 * @category constructors
 */
export const fromJson = (text: string): Either.Either<Token.Token, MalformedStoredToken> =>
  Json.depthExceeds(text)
    ? Either.left(new MalformedStoredToken({ reason: "not a stored token (nested too deeply)" }))
    : decodeStored(text).pipe(Either.mapLeft((error) => {
      const path = Json.firstIssue(error).path.map(String)
      return new MalformedStoredToken({
        reason: path.length === 0 ? "not a stored token (JSON object with format 1)" : `${path.join(".")} is invalid`
      })
    }))
