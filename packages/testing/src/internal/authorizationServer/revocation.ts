/**
 * Token revocation (RFC 7009) and introspection (RFC 7662).
 */
import type { Answer } from "../answer.js"
import type { Form } from "./form.js"
import type { Client, Grant, State } from "./state.js"
import { error, revokeGrant } from "./state.js"

/**
 * Revokes a token of the client: a refresh token takes its grant with it, an access token goes alone,
 * and an unknown token is not an error (RFC 7009 section 2.2).
 *
 * @internal
 */
export const revoke = (state: State, client: Client, form: Form): Answer => {
  const value = form.get("token")
  if (value === undefined) return error(state, 400, "invalid_request", "token is missing")
  const access = state.accessTokens.get(value)
  const refresh = state.refreshTokens.get(value)
  const grant = access?.grant ?? refresh?.grant
  if (grant === undefined) return { status: 200 }
  if (grant.clientId !== client.clientId) {
    return error(state, 400, "invalid_request", "the token belongs to another client")
  }
  if (refresh !== undefined) revokeGrant(state, grant.id)
  else state.accessTokens.delete(value)
  return { status: 200 }
}

const describe = (
  state: State,
  grant: Grant,
  scope: ReadonlyArray<string>,
  issuedAt: number,
  expiresAt: number | undefined,
  kind: "access_token" | "refresh_token"
): Record<string, unknown> => ({
  active: true,
  client_id: grant.clientId,
  ...(grant.subject === undefined ? {} : { sub: grant.subject }),
  ...(scope.length > 0 ? { scope: scope.join(" ") } : {}),
  ...(kind === "access_token" ? { token_type: "Bearer" } : {}),
  iat: Math.floor(issuedAt / 1000),
  ...(expiresAt === undefined || !Number.isFinite(expiresAt) ? {} : { exp: Math.floor(expiresAt / 1000) }),
  iss: state.config.issuer
})

/**
 * Describes a token of the client: active with its claims, or `{ active: false }` when it is unknown,
 * expired, used (a rotated refresh token) or another client's.
 *
 * @internal
 */
export const introspect = (state: State, client: Client, form: Form, now: number): Answer => {
  const value = form.get("token")
  if (value === undefined) return error(state, 400, "invalid_request", "token is missing")
  const inactive: Answer = { status: 200, body: { active: false } }
  const access = state.accessTokens.get(value)
  if (access !== undefined) {
    if (now >= access.expiresAt || access.grant.clientId !== client.clientId) return inactive
    return {
      status: 200,
      body: describe(state, access.grant, access.scope, access.issuedAt, access.expiresAt, "access_token")
    }
  }
  const refresh = state.refreshTokens.get(value)
  if (refresh === undefined || refresh.consumed || refresh.grant.clientId !== client.clientId) return inactive
  if (refresh.expiresAt !== undefined && now >= refresh.expiresAt) return inactive
  return {
    status: 200,
    body: describe(state, refresh.grant, refresh.grant.scope, refresh.issuedAt, refresh.expiresAt, "refresh_token")
  }
}
