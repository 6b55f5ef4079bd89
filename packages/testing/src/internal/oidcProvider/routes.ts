/**
 * The routes the harness serves beside oidc-provider: the interaction (login and consent) that the
 * scripted browser walks through, and the protected resource.
 */
import type * as Http from "node:http"
import type Provider from "oidc-provider"

/**
 * The account an interaction logs in when no other is named.
 *
 * @internal
 */
export const defaultAccount = "alice"

/**
 * The header that names the account an interaction logs in, sent by the scripted browser.
 *
 * @internal
 */
export const accountHeader = "x-tokenfx-account"

/**
 * The login and consent pages: logs the account in (the one `accountHeader` names), then grants
 * whatever the consent prompt says is missing.
 *
 * @internal
 */
export const interaction = async (provider: Provider, req: Http.IncomingMessage, res: Http.ServerResponse) => {
  const details = await provider.interactionDetails(req, res)
  const header = req.headers[accountHeader]
  const accountId = typeof header === "string" && header.length > 0 ? header : defaultAccount
  if (details.prompt.name === "login") {
    return provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false })
  }
  const clientId = String(details.params.client_id)
  const grant = details.grantId === undefined
    ? new provider.Grant({ accountId: details.session?.accountId ?? accountId, clientId })
    : await provider.Grant.find(details.grantId)
  if (grant === undefined) throw new Error("the interaction's grant is gone")
  const missing = details.prompt.details as {
    readonly missingOIDCScope?: ReadonlyArray<string>
    readonly missingOIDCClaims?: ReadonlyArray<string>
    readonly missingResourceScopes?: Readonly<Record<string, ReadonlyArray<string>>>
  }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "))
  if (missing.missingOIDCClaims) grant.addOIDCClaims([...missing.missingOIDCClaims])
  for (const [indicator, granted] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, granted.join(" "))
  }
  const grantId = await grant.save()
  return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
}

/**
 * The protected resource: a valid, unexpired bearer (not DPoP-bound) access token with the scopes the
 * `scope` query parameter names.
 *
 * @internal
 */
export const resource = async (provider: Provider, req: Http.IncomingMessage, res: Http.ServerResponse) => {
  const reject = (status: number, challenge: string) => {
    res.statusCode = status
    res.setHeader("www-authenticate", challenge)
    res.setHeader("content-type", "application/json")
    res.end(JSON.stringify({ error: /error="([^"]+)"/.exec(challenge)?.[1] }))
  }
  const value = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1]
  const token = value === undefined
    ? undefined
    : (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value))
  if (token === undefined || token.isExpired) {
    return reject(401, `Bearer error="invalid_token", error_description="the access token is invalid or expired"`)
  }
  // A DPoP-bound token is worthless as a bearer token (RFC 9449 section 7.2); `userinfoEndpoint` takes it with its proof.
  if (token.jkt !== undefined) {
    return reject(401, `Bearer error="invalid_token", error_description="the access token is DPoP-bound"`)
  }
  const required = (new URL(req.url ?? "/", "http://127.0.0.1").searchParams.get("scope") ?? "")
    .split(" ")
    .filter((scope) => scope.length > 0)
  const granted = new Set((token.scope ?? "").split(" "))
  const absent = required.filter((scope) => !granted.has(scope))
  if (absent.length > 0) {
    return reject(403, `Bearer error="insufficient_scope", scope="${required.join(" ")}"`)
  }
  res.setHeader("content-type", "application/json")
  res.end(JSON.stringify({
    sub: "accountId" in token && token.accountId !== undefined ? token.accountId : token.clientId,
    client_id: token.clientId,
    scope: token.scope ?? ""
  }))
}
