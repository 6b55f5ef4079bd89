/**
 * A compliance hook for providers that do not quite follow the RFCs: it rewrites the raw answer of an
 * endpoint (status, headers, body) before tokenfx reads it, and maps the error it reads to another
 * one, per endpoint. The provider profiles (`Provider`) are built from it; any other provider gets the
 * same means.
 *
 * @example
 * ```ts
 * import * as Compliance from "@tokenfx/http/Compliance"
 * import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
 * import * as OAuthError from "@tokenfx/core/OAuthError"
 *
 * // A provider that answers `{"status":"expired"}` with HTTP 401 when a refresh token is dead, names
 * // its scopes with commas, and says when a rate limit ends in an `x-ratelimit-reset` epoch.
 * const acme = Compliance.compose(
 *   Compliance.mapJson((body, answer) =>
 *     answer.endpoint === "token" && body["status"] === "expired"
 *       ? { error: "invalid_grant", error_description: "the refresh token expired" }
 *       : body
 *   ),
 *   Compliance.scopeSeparator(","),
 *   Compliance.rateLimitReset("x-ratelimit-reset"),
 *   Compliance.mapError((error) =>
 *     error._tag === "UnknownOAuthError" && error.code === "acme_locked"
 *       ? new OAuthError.AccessDenied({ description: error.description, status: error.status })
 *       : error
 *   )
 * )
 *
 * export const layer = TokenEndpoint.layer({
 *   tokenEndpoint: "https://id.acme.example/token",
 *   clientId: "my-app",
 *   compliance: acme
 * })
 * ```
 *
 * @since 0.3.0
 */
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"

/**
 * The endpoint an answer came from.
 *
 * @since 0.3.0
 * @category models
 */
export type Endpoint = "token" | "revocation" | "introspection" | "device_authorization"

/**
 * An answer as it came off the wire: status, headers (names in lower case) and body text.
 *
 * @since 0.3.0
 * @category models
 */
export interface Answer {
  readonly endpoint: Endpoint
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * The two hooks. `answer` runs first, on every answer, before the status is looked at: it may turn a
 * 200 into an error or the reverse, rename fields, add a `Retry-After` header. `error` runs on the
 * error read from a failed answer (the rewritten one), and may replace it with another. Both must be
 * total: they run inside the client and cannot fail.
 *
 * @since 0.3.0
 * @category models
 */
export interface Compliance {
  /** Rewrites an answer before it is read; `now` is the client's clock, in epoch milliseconds. */
  readonly answer?: ((answer: Answer, now: number) => Answer) | undefined
  /** Replaces the error read from a failed answer. */
  readonly error?: ((error: OAuthError.ProtocolError, answer: Answer) => OAuthError.ProtocolError) | undefined
}

/**
 * A hook that rewrites answers.
 *
 * @since 0.3.0
 * @category constructors
 */
export const mapAnswer = (f: (answer: Answer, now: number) => Answer): Compliance => ({ answer: f })

/**
 * A hook that maps errors.
 *
 * @since 0.3.0
 * @category constructors
 */
export const mapError = (
  f: (error: OAuthError.ProtocolError, answer: Answer) => OAuthError.ProtocolError
): Compliance => ({ error: f })

/**
 * Runs hooks in order: each answer hook sees what the previous one made of the answer, each error
 * hook the previous one's error.
 *
 * @since 0.3.0
 * @category combinators
 */
export const compose = (...hooks: ReadonlyArray<Compliance>): Compliance => ({
  answer: (answer, now) => hooks.reduce((acc, hook) => hook.answer === undefined ? acc : hook.answer(acc, now), answer),
  error: (error, answer) => hooks.reduce((acc, hook) => hook.error === undefined ? acc : hook.error(acc, answer), error)
})

/**
 * `hooks`, applied to the answers of `endpoints` only.
 *
 * @since 0.3.0
 * @category combinators
 */
export const forEndpoints = (endpoints: ReadonlyArray<Endpoint>, hooks: Compliance): Compliance => ({
  answer: (answer, now) =>
    hooks.answer !== undefined && endpoints.includes(answer.endpoint) ? hooks.answer(answer, now) : answer,
  error: (error, answer) =>
    hooks.error !== undefined && endpoints.includes(answer.endpoint) ? hooks.error(error, answer) : error
})

/**
 * Parses a body as a JSON object, or `undefined` when it is not one. It is read as `Json.parse` reads
 * untrusted JSON: a body nesting deeper than `Json.maxDepth` is not one (re-serialising it would
 * overflow the stack; the endpoint then rejects it as malformed), and `__proto__` members are dropped.
 *
 * @since 0.3.0
 * @category constructors
 */
export const parseObject = (body: string): Record<string, unknown> | undefined => Json.parseObject(body)

/**
 * Rewrites JSON object bodies (any other body is left alone). Return the object unchanged to leave
 * the answer as it was.
 *
 * @since 0.3.0
 * @category constructors
 */
export const mapJson = (
  f: (body: Record<string, unknown>, answer: Answer) => Record<string, unknown>
): Compliance =>
  mapAnswer((answer) => {
    const body = parseObject(answer.body)
    if (body === undefined) return answer
    const next = f(body, answer)
    return next === body ? answer : { ...answer, body: JSON.stringify(next) }
  })

/**
 * Renames fields of JSON bodies (`{ verification_url: "verification_uri" }`), where the standard name
 * is not already present.
 *
 * @since 0.3.0
 * @category constructors
 */
export const renameFields = (names: Readonly<Record<string, string>>): Compliance =>
  mapJson((body) => {
    let next = body
    for (const [from, to] of Object.entries(names)) {
      if (Object.hasOwn(next, from) && !Object.hasOwn(next, to)) {
        const { [from]: value, ...rest } = next
        next = { ...rest, [to]: value }
      }
    }
    return next
  })

/**
 * Renames error codes (`{ bad_refresh_token: "invalid_grant" }`) in JSON error bodies, so that the
 * provider's code is read as the standard one.
 *
 * @since 0.3.0
 * @category constructors
 */
export const renameErrors = (codes: Readonly<Record<string, string>>): Compliance =>
  mapJson((body) => {
    const code = body["error"]
    return typeof code === "string" && Object.hasOwn(codes, code) ? { ...body, error: codes[code] } : body
  })

/**
 * Reads `scope` in token answers separated by `separator` (GitHub: commas) as the space-delimited list
 * of RFC 6749 section 3.3.
 *
 * @since 0.3.0
 * @category constructors
 */
export const scopeSeparator = (separator: string): Compliance =>
  forEndpoints(
    ["token"],
    mapJson((body) => {
      const scope = body["scope"]
      if (typeof scope !== "string" || !scope.includes(separator)) return body
      return { ...body, scope: scope.split(separator).map((s) => s.trim()).filter((s) => s.length > 0).join(" ") }
    })
  )

/**
 * Reads an `application/x-www-form-urlencoded` body (what GitHub answers without `Accept: application/json`)
 * as the equivalent JSON object. A body that is already JSON is left alone.
 *
 * @since 0.3.0
 * @category constructors
 */
export const formBodies: Compliance = mapAnswer((answer) => {
  const text = answer.body.trim()
  if (text.length === 0 || text.startsWith("{") || text.startsWith("[") || text.startsWith("<")) return answer
  if (!/^[\w.~%+-]+=[^&]*(?:&[\w.~%+-]+=[^&]*)*$/.test(text)) return answer
  // Own data properties only: a `__proto__` parameter is a key like any other.
  return { ...answer, body: JSON.stringify(Object.fromEntries(new URLSearchParams(text))) }
})

const headerOf = (headers: Readonly<Record<string, string>>, name: string): string | undefined => {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return value
  }
  return undefined
}

/**
 * Turns a rate-limit reset header holding an epoch time in seconds (Okta's `x-rate-limit-reset`,
 * Auth0's `x-ratelimit-reset`) into the `Retry-After` the backoff and the endpoint's cooldown honour,
 * on 429 answers that have none. The wait is measured against the answer's `Date` header when it has
 * one (the server's clock, whatever the client's says), else against the client's clock.
 *
 * @since 0.3.0
 * @category constructors
 */
export const rateLimitReset = (header: string): Compliance =>
  mapAnswer((answer, now) => {
    if (answer.status !== 429 || headerOf(answer.headers, "retry-after") !== undefined) return answer
    const reset = headerOf(answer.headers, header.toLowerCase())
    if (reset === undefined || !/^\s*\d+(?:\.\d+)?\s*$/.test(reset)) return answer
    const date = headerOf(answer.headers, "date")
    const serverNow = date === undefined ? Number.NaN : Date.parse(date)
    const base = Number.isFinite(serverNow) ? serverNow : now
    const seconds = Math.max(0, Math.ceil((Number(reset) * 1000 - base) / 1000))
    return { ...answer, headers: { ...answer.headers, "retry-after": String(seconds) } }
  })

const maxSuberrorLength = 128

/**
 * Reads the OpenID Connect codes that some providers send as a detail of another error (Entra ID:
 * `suberror`), or only in a description, as their own classes. `byDescription` maps a substring of
 * the description (an `AADSTS` code) to an error code.
 *
 * @since 0.3.0
 * @category constructors
 */
export const errorDetails = (byDescription: Readonly<Record<string, string>> = {}): Compliance =>
  mapError((error, answer) => {
    const body = parseObject(answer.body)
    // A detail code, as short as an error code: anything longer is not one, and is left out.
    const suberror = typeof body?.["suberror"] === "string" && body["suberror"].length <= maxSuberrorLength
      ? body["suberror"]
      : undefined
    const details: OAuthError.Details = {
      description: error.description,
      uri: error.uri,
      status: error.status,
      endpoint: error.endpoint,
      retryAfter: error.retryAfter
    }
    if (suberror === "consent_required") return new OAuthError.ConsentRequired(details)
    const matched = Object.entries(byDescription).find(([needle]) => error.description?.includes(needle) === true)
    const code = matched?.[1] ?? error.code
    if (code === "interaction_required") return new OAuthError.InteractionRequired({ ...details, suberror })
    return code === error.code ? error : OAuthError.fromCode(code, details)
  })
