/**
 * What a resource server's refusal means, read from its `WWW-Authenticate` challenges: the typed
 * errors `AuthorizedClient` and `authorizedFetch` both fail with, each cleaned of the token sent.
 */
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import type * as WwwAuthenticate from "@tokenfx/core/WwwAuthenticate"
import * as scrub from "./scrub.js"

/** @internal */
export const scheme = (token: Token.Token): string => token.tokenType === "DPoP" ? "DPoP" : "Bearer"

/**
 * The claims challenge among a 401's challenges (`error="insufficient_claims"`, Microsoft Entra ID's
 * Continuous Access Evaluation and Conditional Access). A refresh cannot satisfy it (only a new
 * authorization request with its claims can), so the 401 is neither retried nor counted against the
 * token.
 *
 * @internal
 */
export const insufficientClaims = (
  challenges: ReadonlyArray<WwwAuthenticate.Challenge>,
  status: number,
  endpoint: string,
  token: Token.Token
): OAuthError.InsufficientClaims | undefined => {
  const challenge = challenges.find((c) => c.params["error"] === "insufficient_claims")
  if (challenge === undefined) return undefined
  const error = ErrorResponse.fromChallenge(challenge, { status, endpoint })
  return error?._tag === "InsufficientClaims" ? scrub.scrub(error, scrub.needles([token.accessToken])) : undefined
}

// What the server wrote, cut as every server text in an error is (a header may be any length).
const paramsOf = (challenge: WwwAuthenticate.Challenge | undefined): Record<string, string> | undefined =>
  challenge === undefined
    ? undefined
    : Object.fromEntries(Object.entries(challenge.params).map(([name, value]) => [name, ErrorResponse.truncate(value)]))

/**
 * A 401 that stays: the challenge of the token's own scheme (or the first), and why it was not
 * retried when it was not.
 *
 * @internal
 */
export const invalidToken = (
  challenges: ReadonlyArray<WwwAuthenticate.Challenge>,
  status: number,
  endpoint: string,
  token: Token.Token,
  note?: string
): OAuthError.InvalidToken => {
  const params = paramsOf(
    challenges.find((c) => c.scheme.toLowerCase() === scheme(token).toLowerCase()) ?? challenges[0]
  )
  const description = params?.["error_description"]
  return scrub.scrub(
    new OAuthError.InvalidToken({
      status,
      endpoint,
      description: note === undefined ? description : description === undefined ? note : `${description}; ${note}`,
      uri: params?.["error_uri"],
      challenge: params
    }),
    scrub.needles([token.accessToken])
  )
}

/**
 * A 403 naming `insufficient_scope`; any other 403 is the caller's answer. A 401 naming it (RFC 6750
 * asks for a 403, not every server complies) is the same refusal: a refresh cannot add scope, so it is
 * neither retried nor counted against the token.
 *
 * @internal
 */
export const insufficientScope = (
  challenges: ReadonlyArray<WwwAuthenticate.Challenge>,
  status: number,
  endpoint: string,
  token: Token.Token
): OAuthError.InsufficientScope | undefined => {
  const params = paramsOf(challenges.find((c) => c.params["error"] === "insufficient_scope"))
  if (params === undefined) return undefined
  return scrub.scrub(
    new OAuthError.InsufficientScope({
      status,
      endpoint,
      description: params["error_description"],
      uri: params["error_uri"],
      scope: params["scope"]
    }),
    scrub.needles([token.accessToken])
  )
}
