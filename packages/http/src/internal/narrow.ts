import * as OAuthError from "@tokenfx/core/OAuthError"

/**
 * The tags of the error codes an operation may name as its own.
 *
 * @internal
 */
export type Tag = Exclude<OAuthError.ProtocolError["_tag"], "UnknownOAuthError">

/**
 * The codes any request to an authorization server can meet, whatever the operation.
 *
 * @internal
 */
export const serverTags = ["RateLimited", "ServerError", "TemporarilyUnavailable"] as const satisfies ReadonlyArray<Tag>

/**
 * `E` with its protocol errors narrowed to `Tags`, anything else an `UnknownOAuthError`.
 *
 * @internal
 */
export type Narrowed<E extends OAuthError.OAuthError, Tags extends Tag> =
  | Exclude<E, OAuthError.ProtocolError>
  | Extract<E, { readonly _tag: Tags }>
  | OAuthError.UnknownOAuthError

const nonProtocol: ReadonlySet<string> = new Set(["TransportError", "MalformedResponse", "ReconnectRequired"])

/**
 * Whether an error is the server's answer (a code), rather than one tokenfx raised around it.
 *
 * @internal
 */
export const isProtocolError = (error: OAuthError.OAuthError): error is OAuthError.ProtocolError =>
  !nonProtocol.has(error._tag)

/**
 * Keeps the protocol errors an operation can honestly fail with; any other code a server sends is an
 * `UnknownOAuthError` that keeps the code, so that each operation's signature stays truthful.
 *
 * @internal
 */
export const narrow = <const Tags extends Tag>(tags: ReadonlyArray<Tags>) => {
  const allowed: ReadonlySet<string> = new Set<string>([...tags, "UnknownOAuthError"])
  return <E extends OAuthError.OAuthError>(error: E): Narrowed<E, Tags> => {
    if (!isProtocolError(error) || allowed.has(error._tag)) return error as Narrowed<E, Tags>
    return new OAuthError.UnknownOAuthError({
      code: error.code,
      description: error.description,
      uri: error.uri,
      status: error.status,
      endpoint: error.endpoint,
      retryAfter: error.retryAfter
    })
  }
}
