/**
 * The answer shapes of the provider dialects (see `Dialect`): plain functions from an answer the
 * in-memory server would send to the one the provider sends.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type { Answer, Context, ServerAccess } from "./answer.js"

const record = (body: unknown): Record<string, unknown> | undefined =>
  typeof body === "object" && body !== null && !Array.isArray(body) ? body as Record<string, unknown> : undefined

const errorOf = (answer: Answer): Record<string, unknown> | undefined => {
  const body = record(answer.body)
  return answer.status >= 400 && typeof body?.["error"] === "string" ? body : undefined
}

const success = (answer: Answer): Record<string, unknown> | undefined => {
  const body = record(answer.body)
  return answer.status === 200 && typeof body?.["access_token"] === "string" ? body : undefined
}

const formEncoded = (answer: Answer, body: Record<string, unknown>): Answer => {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(body)) params.append(key, String(value))
  return {
    ...answer,
    body: params.toString(),
    headers: { ...answer.headers, "content-type": "application/x-www-form-urlencoded; charset=utf-8" }
  }
}

// "Troubleshooting OAuth app access token request errors".
const githubCodes = (code: string, grantType: string | undefined): string => {
  switch (code) {
    case "invalid_grant":
      return grantType === "refresh_token"
        ? "bad_refresh_token"
        : grantType === "authorization_code"
        ? "bad_verification_code"
        : "incorrect_device_code"
    case "invalid_client":
      return "incorrect_client_credentials"
    case "unauthorized_client":
      return grantType === "urn:ietf:params:oauth:grant-type:device_code" ? "device_flow_disabled" : code
    default:
      return code
  }
}

/** @internal */
export const github = (answer: Answer, context: Context): Answer => {
  if (context.endpoint !== "token" && context.endpoint !== "device_authorization") return answer
  const json = context.accept?.includes("application/json") === true
  const error = errorOf(answer)
  if (error !== undefined && (answer.status === 400 || answer.status === 401)) {
    const body = { ...error, error: githubCodes(String(error["error"]), context.grantType) }
    // GitHub answers token endpoint errors with HTTP 200.
    const shaped: Answer = { status: 200, body, headers: { "content-type": "application/json; charset=utf-8" } }
    return json ? shaped : formEncoded(shaped, body)
  }
  const token = success(answer)
  if (token === undefined) return answer
  const body = {
    ...token,
    token_type: "bearer",
    scope: typeof token["scope"] === "string" ? token["scope"].split(" ").join(",") : ""
  }
  return json ? { ...answer, body } : formEncoded(answer, body)
}

const readBody = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  const body = request.body
  if (body._tag === "Uint8Array") return new TextDecoder().decode(body.body)
  if (body._tag === "Raw" && typeof body.body === "string") return body.body
  return undefined
}

/**
 * `DELETE /applications/{client_id}/grant` ("REST API endpoints for OAuth authorizations").
 *
 * @internal
 */
export const githubRevoke = (
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  server: ServerAccess
): Effect.Effect<Answer> | undefined => {
  const pathClientId = /\/applications\/([^/]+)\/grant$/.exec(url.pathname)?.[1]
  if (pathClientId === undefined) return undefined
  return Effect.sync((): Answer => {
    if (request.method !== "DELETE") return { status: 404, body: { message: "Not Found" } }
    const clientId = server.authenticateBasic(request.headers["authorization"])
    if (clientId === undefined || clientId !== decodeURIComponent(pathClientId)) {
      return { status: 401, body: { message: "Bad credentials" } }
    }
    let accessToken: unknown
    try {
      accessToken = record(JSON.parse(readBody(request) ?? ""))?.["access_token"]
    } catch {
      accessToken = undefined
    }
    if (typeof accessToken !== "string") return { status: 422, body: { message: "Validation Failed" } }
    return server.revokeGrantOf(clientId, accessToken)
      ? { status: 204 }
      : { status: 404, body: { message: "Not Found" } }
  })
}

/** @internal */
export const google = (answer: Answer, context: Context): Answer => {
  if (context.endpoint === "device_authorization") {
    const body = record(answer.body)
    if (answer.status !== 200 || body === undefined) return answer
    const { verification_uri, verification_uri_complete: _, ...rest } = body
    return { ...answer, body: { ...rest, verification_url: verification_uri } }
  }
  const error = errorOf(answer)
  if (context.endpoint === "token" && error?.["error"] === "invalid_grant" && context.grantType === "refresh_token") {
    return { ...answer, body: { error: "invalid_grant", error_description: "Token has been expired or revoked." } }
  }
  return answer
}

const aadsts = (error: Record<string, unknown>): { readonly code: number; readonly text: string } => {
  const description = String(error["error_description"] ?? "")
  switch (error["error"]) {
    case "invalid_grant":
      return /expired/.test(description)
        ? { code: 700082, text: "The refresh token has expired due to inactivity." }
        : { code: 50173, text: "The provided grant has expired due to it being revoked, a fresh auth token is needed." }
    case "invalid_client":
      return { code: 7000215, text: "Invalid client secret provided." }
    case "invalid_scope":
      return { code: 70011, text: "The provided value for the input parameter 'scope' is not valid." }
    default:
      return { code: 9002313, text: description.length > 0 ? description : "Invalid request." }
  }
}

/** @internal */
export const entraId = (answer: Answer, context: Context): Answer => {
  const token = success(answer)
  if (token !== undefined) {
    // Entra ID does not say when a refresh token expires (90 days of inactivity, by default).
    const { refresh_token_expires_in: _, ...rest } = token
    return { ...answer, body: { ...rest, ext_expires_in: token["expires_in"] } }
  }
  const error = errorOf(answer)
  if (error === undefined || context.endpoint === "resource") return answer
  // A body already in Entra's shape (a forced failure) is sent as it is.
  if (typeof error["error_description"] === "string" && error["error_description"].startsWith("AADSTS")) return answer
  const { code, text } = aadsts(error)
  return {
    ...answer,
    body: {
      error: error["error"],
      error_description: `AADSTS${code}: ${text} Trace ID: 0000 Correlation ID: 0000 Timestamp: ${
        DateTime.formatIso(DateTime.unsafeMake(context.now))
      }`,
      error_codes: [code],
      timestamp: DateTime.formatIso(DateTime.unsafeMake(context.now)),
      trace_id: "00000000-0000-0000-0000-000000000000",
      correlation_id: "00000000-0000-0000-0000-000000000000"
    }
  }
}

/**
 * 429 answers with `<prefix>-limit`, `-remaining` and `-reset` (epoch seconds) and a `Date` header
 * instead of `Retry-After`.
 *
 * @internal
 */
export const rateLimit = (prefix: string) => (answer: Answer, context: Context): Answer => {
  if (answer.status !== 429) return answer
  const { "retry-after": retryAfter, ...headers } = answer.headers ?? {}
  const seconds = retryAfter !== undefined && /^\d+$/.test(retryAfter) ? Number(retryAfter) : 60
  return {
    ...answer,
    headers: {
      ...headers,
      date: DateTime.toDateUtc(DateTime.unsafeMake(context.now)).toUTCString(),
      [`${prefix}-limit`]: "100",
      [`${prefix}-remaining`]: "0",
      [`${prefix}-reset`]: String(Math.ceil(context.now / 1000) + seconds)
    }
  }
}

/** @internal */
export const keycloak = (answer: Answer, context: Context): Answer => {
  const token = success(answer)
  if (token !== undefined) {
    const { refresh_token_expires_in, ...rest } = token
    return {
      ...answer,
      body: {
        ...rest,
        refresh_expires_in: typeof refresh_token_expires_in === "number" ? refresh_token_expires_in : 0,
        "not-before-policy": 0,
        session_state: "00000000-0000-0000-0000-000000000000"
      }
    }
  }
  const error = errorOf(answer)
  if (error?.["error"] === "invalid_grant" && context.grantType === "refresh_token") {
    const expired = /expired/.test(String(error["error_description"] ?? ""))
    return {
      ...answer,
      body: { error: "invalid_grant", error_description: expired ? "Token is not active" : "Session not active" }
    }
  }
  return answer
}
