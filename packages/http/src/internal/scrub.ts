import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import type * as OAuthError from "@tokenfx/core/OAuthError"
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

// The end of a text that was cut short where a secret began: its longest tail that starts a needle.
const cutSecret = (text: string, needles: ReadonlyArray<string>): number => {
  if (!text.endsWith(ErrorResponse.truncatedMark)) return 0
  const kept = text.length - ErrorResponse.truncatedMark.length
  let longest = 0
  for (const needle of needles) {
    for (let length = Math.min(needle.length - 1, kept); length > longest; length--) {
      if (text.startsWith(needle.slice(0, length), kept - length)) {
        longest = length
        break
      }
    }
  }
  return longest
}

// A challenge's parameters: the one field of an error that holds texts in a record.
const isTexts = (value: unknown): value is Readonly<Record<string, string>> =>
  typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype &&
  Object.values(value).every((member) => typeof member === "string")

/**
 * `error` with every echo of `needles` masked in what the server wrote: every text it carries (the
 * description, the URI, an unknown code, a challenge's parameters, a required scope, a claims request,
 * a provider's detail), including the first characters of a secret where a text was cut short. The
 * error keeps its class and its other fields (a provider's `mfaToken`, `interval`). Errors tokenfx
 * wrote itself are returned as they are.
 *
 * @internal
 */
export const scrub = <E extends OAuthError.OAuthError>(error: E, needles: ReadonlyArray<string>): E => {
  if (needles.length === 0 || !narrow.isProtocolError(error)) return error
  const dirty = (text: string) => needles.some((needle) => text.includes(needle)) || cutSecret(text, needles) > 0
  const clean = (text: string): string => {
    const masked = needles.reduce((acc, needle) => acc.replaceAll(needle, mask), text)
    const cut = cutSecret(masked, needles)
    if (cut === 0) return masked
    const kept = masked.length - ErrorResponse.truncatedMark.length
    return `${masked.slice(0, kept - cut)}${mask}${ErrorResponse.truncatedMark}`
  }
  // The fields the error was made with; `_tag` and `disposition` come with its class.
  const fields = Object.entries(error).filter(([name]) => name !== "_tag" && name !== "disposition")
  const isDirty = fields.some(([, value]) =>
    typeof value === "string" ? dirty(value) : isTexts(value) && Object.values(value).some(dirty)
  )
  if (!isDirty) return error
  const cleaned = fields.map(([name, value]) =>
    [
      name,
      typeof value === "string"
        ? clean(value)
        : isTexts(value)
        ? Object.fromEntries(Object.entries(value).map(([key, text]) => [key, clean(text)]))
        : value
    ] as const
  )
  return new (error.constructor as new(fields: object) => E)(Object.fromEntries(cleaned))
}

// Whether any text reachable from `value` (an error's message, stack, fields, causes) quotes a needle.
// What cannot be told (too many objects, a getter that throws) is taken as quoting one.
const quotes = (value: unknown, needles: ReadonlyArray<string>, seen: Set<object>): boolean => {
  if (typeof value === "string") return needles.some((needle) => value.includes(needle))
  if (typeof value !== "object" || value === null || seen.has(value)) return false
  if (seen.size >= 64) return true
  seen.add(value)
  try {
    if (value instanceof Error && (quotes(value.message, needles, seen) || quotes(value.stack, needles, seen))) {
      return true
    }
    if (value instanceof Error && quotes(value.cause, needles, seen)) return true
    return Object.values(value).some((member) => quotes(member, needles, seen))
  } catch {
    return true
  }
}

const maskAll = (text: string, needles: ReadonlyArray<string>): string =>
  needles.reduce((acc, needle) => acc.replaceAll(needle, mask), text)

// An error of the same class with its message, stack and `code` masked, and nothing else of it.
const copyError = (error: Error, needles: ReadonlyArray<string>, depth: number): Error => {
  const copy = Object.create(Object.getPrototypeOf(error)) as Error
  const define = (name: string, value: unknown) =>
    Object.defineProperty(copy, name, { value, writable: true, configurable: true, enumerable: false })
  define("message", maskAll(error.message, needles))
  if (error.stack !== undefined) define("stack", maskAll(error.stack, needles))
  const code = (error as { readonly code?: unknown }).code
  if (typeof code === "string") Object.assign(copy, { code })
  if (error.cause instanceof Error && depth < 4) define("cause", copyError(error.cause, needles, depth + 1))
  return copy
}

/**
 * A foreign error (one `fetch` threw) fit to keep as a `cause`: itself when nothing in it or beneath
 * it quotes a needle, else copies that keep each error's class, masked message and `code`, and drop
 * the rest. An HTTP parser's error keeps the bytes past where it stopped, which a hostile server
 * fills with the token it was sent.
 *
 * @internal
 */
export const scrubCause = (cause: unknown, needles: ReadonlyArray<string>): unknown => {
  if (needles.length === 0 || !quotes(cause, needles, new Set())) return cause
  try {
    return cause instanceof Error ? copyError(cause, needles, 0) : undefined
  } catch {
    return undefined
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
