import * as Duration from "effect/Duration"
import * as Json from "../Json.js"

// The longest wait a `Retry-After` is read as: a century, beyond any retry budget (a cooldown caps
// it far lower), yet small enough that the duration stays finite and formattable, and that now plus
// it is still a date, whatever was sent.
const maxRetryAfterMillis = 100 * 365.25 * 24 * 60 * 60 * 1000

const millis = (value: number): Duration.Duration =>
  Duration.millis(Math.min(maxRetryAfterMillis, Math.max(0, Math.round(value))))

/** @internal */
export const parseRetryAfter = (value: string | undefined, now: number): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return millis(Number(trimmed) * 1000)
  // An HTTP date (IMF-fixdate or the obsolete RFC 850 and asctime forms) starts with a day name;
  // checking that keeps `Date.parse` from reading "-1" or "1.5" as a year.
  if (!/^[A-Za-z]{3}/.test(trimmed)) return undefined
  // HTTP dates are GMT; the asctime form does not say so, and `Date.parse` would read it as local time.
  const at = Date.parse(/(?:GMT|UTC|Z)$/i.test(trimmed) ? trimmed : `${trimmed} GMT`)
  if (Number.isNaN(at)) return undefined
  return millis(at - now)
}

/** @internal */
export const parseJsonObject = (text: string): Record<string, unknown> | undefined => Json.parseObject(text)

/**
 * The longest text a server's free-form field (a description, a URI, an unknown code) keeps in an
 * error: enough for any honest explanation, and a 50 MiB one is not copied into errors and logs.
 *
 * @internal
 */
export const maxTextLength = 1_024

/** @internal */
export const truncate = <T extends string | undefined>(text: T, max: number = maxTextLength): T =>
  (text !== undefined && text.length > max ? `${text.slice(0, max)}… (truncated)` : text) as T

interface Challenge {
  readonly scheme: string
  readonly params: Record<string, string>
  readonly token68?: string | undefined
}

const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

/**
 * A small RFC 7235 tokenizer: challenges are `scheme [token68 | #auth-param]`, separated by commas
 * that are also used between parameters, so a new challenge starts where a token is not followed by `=`.
 *
 * @internal
 */
export const parseWwwAuthenticate = (header: string): ReadonlyArray<Challenge> => {
  const challenges: Array<Challenge> = []
  let i = 0
  const n = header.length
  const skipSpace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++
  }
  const readToken = (): string => {
    const start = i
    while (i < n && tchar.test(header[i])) i++
    return header.slice(start, i)
  }
  const readQuoted = (): string => {
    let out = ""
    i++ // opening quote
    while (i < n && header[i] !== "\"") {
      if (header[i] === "\\" && i + 1 < n) i++
      out += header[i]
      i++
    }
    i++ // closing quote
    return out
  }
  let current: Challenge | undefined
  while (i < n) {
    skipSpace()
    if (header[i] === ",") {
      i++
      continue
    }
    const token = readToken()
    if (token.length === 0) {
      i++ // a character no rule accepts
      continue
    }
    skipSpace()
    if (current !== undefined && header[i] === "=") {
      i++
      skipSpace()
      const value = header[i] === "\"" ? readQuoted() : readToken()
      const name = token.toLowerCase()
      // Assigning `__proto__` would set the prototype of the parameters.
      if (!Json.forbiddenKeys.has(name)) current.params[name] = value
      continue
    }
    // A token not followed by "=" starts a new challenge, maybe carrying a token68 (`Basic YWxh==`).
    current = { scheme: token, params: {} }
    challenges.push(current)
    const token68 = /^([A-Za-z0-9\-._~+/]+=*)[ \t]*(?:,|$)/.exec(header.slice(i))
    if (token68 !== null) {
      challenges[challenges.length - 1] = current = { ...current, token68: token68[1] }
      i += token68[1].length
    }
  }
  return challenges
}
