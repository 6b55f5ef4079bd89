/**
 * Issuing tokens: the scope a client may have, access and refresh tokens minted for a grant, the
 * token response, and a grant issued directly (`issueToken`).
 */
import * as Token from "@tokenfx/core/Token"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type { Answer } from "../answer.js"
import type { Client, Grant, State } from "./state.js"
import { error, increment, randomToken } from "./state.js"

/**
 * The scope granted for a request: the requested one when the client may have it, else the client's
 * own (or none).
 *
 * @internal
 */
export const grantedScope = (
  state: State,
  client: Client,
  requested: string | undefined
): Either.Either<ReadonlyArray<string>, Answer> => {
  const allowed = client.scope === undefined ? undefined : Token.parseScope(client.scope)
  if (requested === undefined) return Either.right(allowed ?? [])
  const scope = Token.parseScope(requested)
  if (allowed !== undefined && scope.some((s) => !allowed.includes(s))) {
    return Either.left(error(state, 400, "invalid_scope", "the requested scope is not allowed for this client"))
  }
  return Either.right(scope)
}

/**
 * New tokens for a grant, stored, as the body of a token response.
 *
 * @internal
 */
export const mint = (
  state: State,
  grant: Grant,
  scope: ReadonlyArray<string>,
  now: number,
  withRefresh: boolean
): Record<string, unknown> => {
  const { accessTtl, refreshTtl } = state.config
  const accessToken = randomToken("at")
  state.accessTokens.set(accessToken, { grant, scope, issuedAt: now, expiresAt: now + accessTtl })
  const body: Record<string, unknown> = { access_token: accessToken, token_type: "Bearer" }
  if (Number.isFinite(accessTtl)) body.expires_in = Math.round(accessTtl / 1000)
  if (scope.length > 0) body.scope = scope.join(" ")
  if (withRefresh) {
    const refreshToken = randomToken("rt")
    state.refreshTokens.set(refreshToken, {
      grant,
      issuedAt: now,
      expiresAt: refreshTtl === undefined ? undefined : now + refreshTtl,
      consumed: false
    })
    body.refresh_token = refreshToken
    if (refreshTtl !== undefined) body.refresh_token_expires_in = Math.round(refreshTtl / 1000)
  }
  return body
}

/**
 * A successful token response, counted by grant type.
 *
 * @internal
 */
export const issued = (state: State, grantType: string, body: Record<string, unknown>): Answer => {
  increment(state.counters.tokensIssued, grantType)
  return { status: 200, body, headers: { "cache-control": "no-store", pragma: "no-cache" } }
}

/**
 * A new grant for `subject`, issued without a request, as the client would hold it.
 *
 * @internal
 */
export const issue = (
  state: State,
  options: {
    readonly client: Client
    readonly subject: string
    readonly scope: string | undefined
    readonly refreshToken: boolean
    readonly now: number
  }
): Token.Token => {
  const { client, now } = options
  const scope = Token.parseScope(options.scope ?? client.scope)
  const grant: Grant = { id: randomToken("grant"), clientId: client.clientId, subject: options.subject, scope }
  const withRefresh = options.refreshToken && client.grantTypes.includes("refresh_token")
  const body = mint(state, grant, scope, now, withRefresh)
  return Token.make(
    {
      access_token: Redacted.make(String(body.access_token)),
      token_type: "Bearer",
      expires_in: typeof body.expires_in === "number" ? body.expires_in : undefined,
      refresh_token: withRefresh ? Redacted.make(String(body.refresh_token)) : undefined,
      scope: typeof body.scope === "string" ? body.scope : undefined,
      refresh_token_expires_in: typeof body.refresh_token_expires_in === "number"
        ? body.refresh_token_expires_in
        : undefined
    },
    now
  )
}
