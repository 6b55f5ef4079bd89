/**
 * The `WWW-Authenticate` header (RFC 7235 section 4.1): the challenges a server answers a request it
 * refused with, e.g. `Bearer realm="api", error="invalid_token", error_description="expired"`.
 *
 * @since 0.4.0
 */
import * as Json from "./Json.js"

/**
 * A `WWW-Authenticate` challenge: its scheme and its parameters, with parameter names in lower case.
 *
 * @since 0.4.0
 * @category models
 */
export interface Challenge {
  readonly scheme: string
  readonly params: Readonly<Record<string, string>>
  readonly token68?: string | undefined
}

const tchar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

/**
 * Parses a `WWW-Authenticate` header into its challenges. Challenges are `scheme [token68 | #auth-param]`,
 * separated by commas that are also used between parameters, so a new challenge starts where a token is
 * not followed by `=`.
 *
 * @since 0.4.0
 * @category constructors
 */
export const parse = (header: string): ReadonlyArray<Challenge> => {
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
  let current: { readonly scheme: string; readonly params: Record<string, string>; token68?: string } | undefined
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
