/**
 * The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636): the user's consent
 * (`authorize`, in place of a login page) and the exchange of the code at the token endpoint.
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Pkce from "@tokenfx/core/Pkce"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { Answer } from "../answer.js"
import type { Form } from "./form.js"
import type { Client, Grant, State } from "./state.js"
import { error, findClient, randomToken, revokeGrant, url } from "./state.js"
import { grantedScope, issued, mint } from "./tokens.js"

/**
 * The user logs in and consents to an authorization request: a URL, or its query. A code from a URL
 * comes with a refresh token unless the dialect says otherwise for its parameters.
 *
 * @internal
 */
export const authorize = (
  state: State,
  request: string | URLSearchParams,
  subject: string
): Effect.Effect<
  { readonly code: string; readonly state: string | undefined; readonly iss: string },
  OAuthError.InvalidRequest | OAuthError.InvalidClient | OAuthError.UnauthorizedClient | OAuthError.InvalidScope
> =>
  Effect.gen(function*() {
    const endpoint = url(state, "authorization")
    if (typeof request === "string" && !URL.canParse(request)) {
      return yield* new OAuthError.InvalidRequest({ description: "not a URL", endpoint })
    }
    const query = typeof request === "string" ? new URL(request).searchParams : request
    const param = (name: string) => query.get(name) ?? undefined
    const client = findClient(state, param("client_id") ?? "")
    if (client === undefined) return yield* new OAuthError.InvalidClient({ description: "unknown client", endpoint })
    if (param("response_type") !== "code") {
      return yield* new OAuthError.InvalidRequest({ description: "response_type must be code", endpoint })
    }
    if (!client.grantTypes.includes("authorization_code")) {
      return yield* new OAuthError.UnauthorizedClient({
        description: "the client may not use the authorization code grant",
        endpoint
      })
    }
    const redirectUri = param("redirect_uri")
    if (client.redirectUris !== undefined && !client.redirectUris.includes(redirectUri ?? "")) {
      return yield* new OAuthError.InvalidRequest({ description: "redirect_uri is not registered", endpoint })
    }
    const challenge = param("code_challenge")
    if (challenge === undefined && client.clientSecret === undefined) {
      return yield* new OAuthError.InvalidRequest({ description: "a public client must use PKCE", endpoint })
    }
    if (challenge !== undefined && param("code_challenge_method") !== "S256") {
      return yield* new OAuthError.InvalidRequest({ description: "code_challenge_method must be S256", endpoint })
    }
    const scope = grantedScope(state, client, param("scope"))
    if (Either.isLeft(scope)) {
      return yield* new OAuthError.InvalidScope({
        description: "the requested scope is not allowed for this client",
        endpoint
      })
    }
    const now = yield* Clock.currentTimeMillis
    const code = randomToken("code")
    state.codes.set(code, {
      clientId: client.clientId,
      subject,
      scope: scope.right,
      redirectUri,
      challenge,
      expiresAt: now + state.config.codeTtl,
      offline: typeof request !== "string" || (state.config.dialect?.issuesRefreshToken?.(query) ?? true),
      grant: undefined,
      used: false
    })
    return { code, state: param("state"), iss: state.config.issuer }
  })

/**
 * The token endpoint's `authorization_code` grant.
 *
 * @internal
 */
export const exchange = (state: State, client: Client, form: Form, now: number): Effect.Effect<Answer> =>
  Effect.gen(function*() {
    // The digest is the only wait: take it first, so that the checks and the use of the code below
    // run without a gap in which a concurrent exchange could use the same code.
    const verifier = form.get("code_verifier")
    const computed = verifier === undefined
      ? undefined
      : yield* Effect.option(Pkce.challenge(Redacted.make(verifier)))
    const value = form.get("code")
    if (value === undefined) return error(state, 400, "invalid_request", "code is missing")
    const code = state.codes.get(value)
    if (code === undefined) return error(state, 400, "invalid_grant", "unknown authorization code")
    if (code.used) {
      // A replayed code: revoke what it gave (RFC 6749 section 4.1.2).
      if (code.grant !== undefined) revokeGrant(state, code.grant.id)
      return error(state, 400, "invalid_grant", "the authorization code was already used")
    }
    if (code.clientId !== client.clientId) {
      return error(state, 400, "invalid_grant", "the code was issued to another client")
    }
    if (now >= code.expiresAt) return error(state, 400, "invalid_grant", "the authorization code has expired")
    if (code.redirectUri !== undefined && form.get("redirect_uri") !== code.redirectUri) {
      return error(state, 400, "invalid_grant", "redirect_uri does not match the authorization request")
    }
    if (code.challenge === undefined && computed !== undefined) {
      return error(state, 400, "invalid_grant", "code_verifier sent for a request without code_challenge")
    }
    if (code.challenge !== undefined) {
      if (computed === undefined) return error(state, 400, "invalid_grant", "code_verifier is missing")
      if (Option.isNone(computed) || computed.value !== code.challenge) {
        return error(state, 400, "invalid_grant", "code_verifier does not match code_challenge")
      }
    }
    code.used = true
    const grant: Grant = {
      id: randomToken("grant"),
      clientId: client.clientId,
      subject: code.subject,
      scope: code.scope
    }
    code.grant = grant
    const withRefresh = client.grantTypes.includes("refresh_token") && code.offline
    return issued(state, "authorization_code", mint(state, grant, code.scope, now, withRefresh))
  })
