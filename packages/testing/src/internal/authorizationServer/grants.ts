/**
 * The token endpoint (RFC 6749 section 3.2): which grant a request asks for, and the client
 * credentials and refresh token grants, the latter with rotation and reuse detection.
 */
import * as Token from "@tokenfx/core/Token"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Answer } from "../answer.js"
import * as AuthorizationCode from "./authorizationCode.js"
import * as DeviceFlow from "./deviceFlow.js"
import type { Form } from "./form.js"
import type { Client, Grant, State } from "./state.js"
import { error, randomToken, revokeGrant, supportedGrants } from "./state.js"
import { grantedScope, issued, mint } from "./tokens.js"

const clientCredentials = (state: State, client: Client, form: Form, now: number): Answer => {
  const scope = grantedScope(state, client, form.get("scope"))
  if (Either.isLeft(scope)) return scope.left
  const grant: Grant = { id: randomToken("grant"), clientId: client.clientId, subject: undefined, scope: scope.right }
  return issued(state, "client_credentials", mint(state, grant, scope.right, now, false))
}

const refresh = (state: State, client: Client, form: Form, now: number): Answer => {
  const value = form.get("refresh_token")
  if (value === undefined) return error(state, 400, "invalid_request", "refresh_token is missing")
  const stored = state.refreshTokens.get(value)
  if (stored === undefined) return error(state, 400, "invalid_grant", "unknown or revoked refresh token")
  if (stored.grant.clientId !== client.clientId) {
    return error(state, 400, "invalid_grant", "the refresh token belongs to another client")
  }
  if (stored.expiresAt !== undefined && now >= stored.expiresAt) {
    return error(state, 400, "invalid_grant", "the refresh token has expired")
  }
  const reuse = state.config.dialect?.reuse ?? "revoke-grant"
  // Within the interval; with `previousOnly`, only while its successor has not been rotated in turn.
  const graced = typeof reuse === "object" && now - (stored.consumedAt ?? now) < reuse.graceMillis &&
    !(reuse.previousOnly === true && stored.successor !== undefined &&
      state.refreshTokens.get(stored.successor)?.consumed === true)
  if (stored.consumed && reuse === "refuse") {
    return error(state, 400, "invalid_grant", "the refresh token was already used")
  }
  if (stored.consumed && reuse !== "allowed" && !graced) {
    // A rotated refresh token presented again: someone holds a copy, so the whole grant dies.
    revokeGrant(state, stored.grant.id)
    return error(state, 400, "invalid_grant", "the refresh token was already used; the grant is revoked")
  }
  const requested = form.get("scope")
  const scope = requested === undefined ? stored.grant.scope : Token.parseScope(requested)
  if (scope.some((s) => !stored.grant.scope.includes(s))) {
    return error(state, 400, "invalid_scope", "the requested scope exceeds the grant")
  }
  if (!state.config.rotate) return issued(state, "refresh_token", mint(state, stored.grant, scope, now, false))
  const body = mint(state, stored.grant, scope, now, true)
  if (!stored.consumed) {
    stored.consumed = true
    stored.consumedAt = now
    stored.successor = body.refresh_token as string
  }
  return issued(state, "refresh_token", body)
}

/**
 * Answers a token request of an authenticated client.
 *
 * @internal
 */
export const token = (state: State, client: Client, form: Form, now: number): Effect.Effect<Answer> => {
  const grantType = form.get("grant_type")
  if (grantType === undefined) return Effect.succeed(error(state, 400, "invalid_request", "grant_type is missing"))
  if (!supportedGrants.includes(grantType)) {
    return Effect.succeed(error(state, 400, "unsupported_grant_type", `grant type ${grantType} is not supported`))
  }
  if (!client.grantTypes.includes(grantType)) {
    return Effect.succeed(error(state, 400, "unauthorized_client", `the client may not use the ${grantType} grant`))
  }
  switch (grantType) {
    case "client_credentials":
      return Effect.sync(() => clientCredentials(state, client, form, now))
    case "refresh_token":
      return Effect.sync(() => refresh(state, client, form, now))
    case "authorization_code":
      return AuthorizationCode.exchange(state, client, form, now)
    default:
      return Effect.sync(() => DeviceFlow.poll(state, client, form, now))
  }
}
