/**
 * The protected resource (RFC 6750): a bearer access token the server issued, unexpired, with the
 * scopes the `scope` query parameter names.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Token from "@tokenfx/core/Token"
import type { Answer } from "../answer.js"
import type { State } from "./state.js"
import { increment } from "./state.js"

/** @internal */
export const answer = (state: State, request: HttpClientRequest.HttpClientRequest, now: number): Answer => {
  const { issuer } = state.config
  const value = /^Bearer\s+(\S+)\s*$/i.exec(request.headers["authorization"] ?? "")?.[1]
  if (value === undefined) {
    return { status: 401, headers: { "www-authenticate": `Bearer realm="${issuer}"` } }
  }
  const access = state.accessTokens.get(value)
  if (access === undefined || now >= access.expiresAt) {
    const description = access === undefined ? "unknown or revoked access token" : "the access token expired"
    increment(state.counters.errors, "invalid_token")
    return {
      status: 401,
      body: { error: "invalid_token", error_description: description },
      headers: { "www-authenticate": `Bearer error="invalid_token", error_description="${description}"` }
    }
  }
  const required = Token.parseScope(new URL(request.url, issuer).searchParams.get("scope") ?? undefined)
  if (required.some((s) => !access.scope.includes(s))) {
    increment(state.counters.errors, "insufficient_scope")
    return {
      status: 403,
      body: { error: "insufficient_scope" },
      headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="${required.join(" ")}"` }
    }
  }
  return {
    status: 200,
    body: {
      sub: access.grant.subject ?? access.grant.clientId,
      client_id: access.grant.clientId,
      scope: access.scope.join(" ")
    }
  }
}
