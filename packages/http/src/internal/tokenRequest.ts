import type * as TokenRequest from "../TokenRequest.js"
import type * as form from "./form.js"

/**
 * The `scope`, `resource` and `audience` fields of a request. A scope list is space-delimited
 * (RFC 6749 section 3.3); each resource is its own field (RFC 8707 section 2).
 *
 * @internal
 */
export const scope = (
  options: TokenRequest.ScopeOptions | undefined
): Record<string, string | ReadonlyArray<string> | undefined> => {
  if (options === undefined) return {}
  const scope = typeof options.scope === "string" ? options.scope : options.scope?.join(" ")
  const resource = typeof options.resource === "string" ? [options.resource] : options.resource
  return {
    scope: scope === undefined || scope.length === 0 ? undefined : scope,
    resource: resource === undefined || resource.length === 0 ? undefined : resource,
    audience: options.audience
  }
}

/**
 * The fields of the authorization code grant's token request (RFC 6749 section 4.1.3, RFC 7636
 * section 4.5).
 *
 * @internal
 */
export const authorizationCode = (code: TokenRequest.AuthorizationCodeOptions): form.Form => ({
  code: code.code,
  redirect_uri: code.redirectUri,
  code_verifier: code.verifier,
  ...scope({ resource: code.resource })
})

/**
 * The fields of a token exchange request (RFC 8693 section 2.1).
 *
 * @internal
 */
export const tokenExchange = (
  exchange: TokenRequest.TokenExchangeOptions,
  accessTokenType: string
): form.Form => ({
  subject_token: exchange.subjectToken,
  subject_token_type: exchange.subjectTokenType ?? accessTokenType,
  actor_token: exchange.actorToken,
  actor_token_type: exchange.actorToken === undefined ? undefined : exchange.actorTokenType,
  requested_token_type: exchange.requestedTokenType,
  ...scope(exchange)
})
