import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Redacted from "effect/Redacted"
import * as form from "./form.js"
import * as narrow from "./narrow.js"

// Servers echo what they were sent ("refresh token 8xLq... is invalid", a challenge quoting the
// token): whatever a server says in an error is cleaned of the secrets its request carried before it
// can reach an error, a log, an event or a span.

// Shorter values are not worth masking: they would shred ordinary words in a description.
const minLength = 8

const mask = "<redacted>"

const lowerEscapes = (text: string) => text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase())

// The credential of an `Authorization` value (`Basic <base64>`, `Bearer <token>`), which a server
// may echo without its scheme.
const credentialOf = (value: string): string | undefined => /^[A-Za-z][A-Za-z0-9-]*\s+(\S+)$/.exec(value)?.[1]

/**
 * The texts under which a server may echo `secrets`: as sent, percent- or form-encoded (upper- or
 * lower-case escapes), and for an `Authorization` value its bare credential.
 *
 * @internal
 */
export const needles = (secrets: Iterable<Redacted.Redacted<string>>): ReadonlyArray<string> => {
  const found = new Set<string>()
  const add = (value: string) => {
    if (value.length < minLength) return
    found.add(value)
    for (const encoded of [encodeURIComponent(value), form.encodeValue(value)]) {
      found.add(encoded)
      found.add(lowerEscapes(encoded))
    }
  }
  for (const secret of secrets) {
    const value = Redacted.value(secret)
    add(value)
    const credential = credentialOf(value)
    if (credential !== undefined) add(credential)
  }
  // Longest first, so that an encoded form is masked whole rather than around a shorter secret.
  return [...found].sort((a, b) => b.length - a.length)
}

/**
 * `error` with every echo of `needles` masked in what the server wrote: the description, the URI, an
 * unknown code, a challenge's parameters, a required scope and a claims request. Errors tokenfx wrote itself are
 * returned as they are.
 *
 * @internal
 */
export const scrub = <E extends OAuthError.OAuthError>(error: E, needles: ReadonlyArray<string>): E => {
  if (needles.length === 0 || !narrow.isProtocolError(error)) return error
  const dirty = (text: string | undefined) => text !== undefined && needles.some((needle) => text.includes(needle))
  const clean = <T extends string | undefined>(text: T): T =>
    (text === undefined ? text : needles.reduce((acc, needle) => acc.replaceAll(needle, mask), text)) as T
  const challenge = error._tag === "InvalidToken" ? error.challenge : undefined
  const scope = error._tag === "InsufficientScope" ? error.scope : undefined
  const claims = error._tag === "InsufficientClaims" ? error.claims : undefined
  if (
    !dirty(error.description) && !dirty(error.uri) && !dirty(error.code) && !dirty(scope) && !dirty(claims) &&
    !Object.values(challenge ?? {}).some(dirty)
  ) {
    return error
  }
  const details: OAuthError.Details = {
    description: clean(error.description),
    uri: clean(error.uri),
    status: error.status,
    endpoint: error.endpoint,
    retryAfter: error.retryAfter
  }
  switch (error._tag) {
    case "UnknownOAuthError":
      return new OAuthError.UnknownOAuthError({ ...details, code: clean(error.code) }) as OAuthError.OAuthError as E
    case "InvalidToken":
      return new OAuthError.InvalidToken({
        ...details,
        challenge: challenge === undefined
          ? undefined
          : Object.fromEntries(Object.entries(challenge).map(([key, value]) => [key, clean(value)]))
      }) as OAuthError.OAuthError as E
    case "InsufficientScope":
      return new OAuthError.InsufficientScope({ ...details, scope: clean(scope) }) as OAuthError.OAuthError as E
    case "InsufficientClaims":
      return new OAuthError.InsufficientClaims({ ...details, claims: clean(claims) }) as OAuthError.OAuthError as E
    default:
      return OAuthError.fromCode(error.code, details) as OAuthError.OAuthError as E
  }
}

/**
 * The headers whose values the `HttpClient`'s spans may record: none of them can carry a credential.
 *
 * @internal
 */
export const safeHeaders: ReadonlyArray<string> = [
  "accept",
  "cache-control",
  "content-encoding",
  "content-length",
  "content-type",
  "date",
  "retry-after",
  "user-agent",
  "vary"
]

/**
 * Every header name but the safe ones.
 *
 * @internal
 */
export const unsafeHeader = new RegExp(`^(?!(?:${safeHeaders.join("|")})$)`)
