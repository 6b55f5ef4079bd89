/**
 * From an HTTP answer to the error it means: the OAuth error response of a token endpoint (RFC 6749
 * section 5.2), the `WWW-Authenticate` challenge of a resource server (RFC 6750 section 3), the
 * server's `Retry-After`, and, when the body says nothing, the status alone.
 *
 * @since 0.4.0
 */
import * as claims from "./internal/claims.js"
import * as text from "./internal/text.js"
import * as Json from "./Json.js"
import { MalformedResponse } from "./OAuthError.js"
import * as ProtocolError from "./ProtocolError.js"
import * as RetryAfter from "./RetryAfter.js"
import * as WwwAuthenticate from "./WwwAuthenticate.js"

// An error code is a short token (RFC 6749 section 5.2); a longer one is cut before it is kept.
const maxCodeLength = 128

/**
 * An HTTP answer, as far as error mapping needs it.
 *
 * @since 0.4.0
 * @category models
 */
export interface HttpAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: string
  readonly endpoint?: string | undefined
}

/**
 * Turns a non-2xx HTTP answer into the error for its code. Reads a JSON body (`error`,
 * `error_description`, `error_uri`), the `WWW-Authenticate` challenge, and `Retry-After` (seconds
 * or an HTTP date, measured from `now` in epoch milliseconds). A body that is not JSON, such as an
 * HTML 500 page, is mapped by its status alone; its content is never copied into the error:
 * 400 `InvalidRequest`, 401 `InvalidClient` (`InvalidToken` under a bare Bearer challenge),
 * 403 `AccessDenied`, 429 `RateLimited`, 503 `TemporarilyUnavailable`, other 5xx `ServerError`,
 * anything else `MalformedResponse`. The server's texts (code, description, URI, challenge
 * parameters) are cut to about a kilobyte; a `__proto__` member is ignored.
 *
 * @since 0.4.0
 * @category constructors
 */
export const fromHttp = (answer: HttpAnswer, now: number): ProtocolError.ProtocolError | MalformedResponse => {
  const details: ProtocolError.Details = {
    status: answer.status,
    endpoint: answer.endpoint,
    retryAfter: RetryAfter.parse(headerOf(answer.headers, "retry-after"), now)
  }
  const body = Json.parseObject(answer.body)
  if (body !== undefined && typeof body["error"] === "string" && body["error"].length > 0) {
    return ProtocolError.fromCode(text.truncate(body["error"], maxCodeLength), {
      ...details,
      description: typeof body["error_description"] === "string"
        ? text.truncate(body["error_description"])
        : undefined,
      uri: typeof body["error_uri"] === "string" ? text.truncate(body["error_uri"]) : undefined
    })
  }
  const challenges = WwwAuthenticate.parse(headerOf(answer.headers, "www-authenticate") ?? "")
  for (const challenge of challenges) {
    const error = fromChallenge(challenge, details)
    if (error !== undefined) return error
  }
  switch (answer.status) {
    case 400:
      return new ProtocolError.InvalidRequest(details)
    case 401: {
      // A resource server's bare Bearer challenge rejects the token (RFC 6750 section 3); any other
      // 401 is the token endpoint refusing the client (RFC 6749 section 5.2).
      const bearer = challenges.find((challenge) => /^(?:bearer|dpop)$/i.test(challenge.scheme))
      return bearer === undefined
        ? new ProtocolError.InvalidClient(details)
        : new ProtocolError.InvalidToken({ ...details, challenge: bearer.params })
    }
    case 403:
      return new ProtocolError.AccessDenied(details)
    case 429:
      return new ProtocolError.RateLimited(details)
    case 503:
      return new ProtocolError.TemporarilyUnavailable(details)
  }
  if (answer.status >= 500) return new ProtocolError.ServerError(details)
  return new MalformedResponse({
    reason: body === undefined ? "expected an OAuth error body, got something else" : "error body has no error code",
    status: answer.status,
    endpoint: answer.endpoint
  })
}

/**
 * A server's free-form text (a description, a URI, a challenge's parameter) as an error keeps it: cut
 * to about a kilobyte, ending in {@link truncatedMark} when it was cut.
 *
 * @since 0.4.0
 * @category combinators
 */
export const truncate: <T extends string | undefined>(value: T) => T = (value) => text.truncate(value)

/**
 * What ends a server's text that was cut short. The characters before it may be the start of
 * something longer, a secret the server echoed among them: whoever masks secrets in an error masks
 * those too.
 *
 * @since 0.4.0
 * @category constants
 */
export const truncatedMark: string = text.truncatedMark

const headerOf = (record: Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const direct = record[name]
  if (direct !== undefined) return direct
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === name) return record[key]
  }
  return undefined
}

/**
 * The error a resource server's challenge describes (RFC 6750 section 3.1), if it names one. A claims
 * challenge (`error="insufficient_claims"`, Microsoft Entra ID) is `InsufficientClaims` with its
 * base64-encoded `claims` decoded; claims that do not decode to a JSON object are left out and the
 * description says so.
 *
 * @since 0.4.0
 * @category constructors
 */
export const fromChallenge = (
  challenge: WwwAuthenticate.Challenge,
  details: ProtocolError.Details = {}
): ProtocolError.ProtocolError | undefined => {
  const raw = challenge.params["error"]
  if (raw === undefined) return undefined
  const code = text.truncate(raw, maxCodeLength)
  // What a server wrote is kept, but never more than a short text of it.
  const params = Object.fromEntries(
    Object.entries(challenge.params).map(([name, value]) => [name, text.truncate(value)])
  )
  const withChallenge: ProtocolError.Details = {
    ...details,
    description: params["error_description"] ?? details.description,
    uri: params["error_uri"] ?? details.uri
  }
  switch (code) {
    case "invalid_token":
      return new ProtocolError.InvalidToken({ ...withChallenge, challenge: params })
    case "insufficient_scope":
      return new ProtocolError.InsufficientScope({ ...withChallenge, scope: params["scope"] })
    case "insufficient_claims": {
      // Decoded from the parameter as sent (not its shortened copy); one that does not decode is left out.
      const raw = challenge.params["claims"]
      const decoded = raw === undefined ? undefined : claims.decode(raw)
      const problem = raw === undefined
        ? "the challenge carries no claims"
        : decoded === undefined
        ? "the challenge's claims are not base64-encoded JSON and were left out"
        : undefined
      const description = problem === undefined || withChallenge.description === undefined
        ? withChallenge.description ?? problem
        : `${withChallenge.description}; ${problem}`
      return new ProtocolError.InsufficientClaims({ ...withChallenge, description, claims: decoded })
    }
    default:
      return ProtocolError.fromCode(code, withChallenge)
  }
}
