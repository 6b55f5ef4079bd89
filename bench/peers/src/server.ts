/**
 * One loopback authorization server and resource for every peer, in a child process of its own so
 * that its work is not counted against the client measured. Refresh tokens rotate on every refresh;
 * with reuse detection on, a refresh token presented again revokes its whole grant (as oidc-provider,
 * Okta and Auth0 do). Driven over IPC by main.ts: `grant`, `configure`, `stats`, `revoked`.
 */
import * as Crypto from "node:crypto"
import * as Http from "node:http"

interface Grant {
  current: string
  revoked: boolean
}

const grants = new Map<string, Grant>()
const refreshTokens = new Map<string, string>()
const accessTokens = new Map<string, number>()
const settings = { reuseDetection: false, latencyMs: 5, expiresIn: 3600 }
const stats = { tokenCalls: 0, invalidGrant: 0, reuse: 0, resourceCalls: 0, resourceRejected: 0 }

const id = () => Crypto.randomBytes(12).toString("base64url")

const issue = (grantId: string) => {
  const grant = grants.get(grantId)!
  const accessToken = `at-${id()}`
  const refreshToken = `rt-${id()}`
  grant.current = refreshToken
  refreshTokens.set(refreshToken, grantId)
  accessTokens.set(accessToken, Date.now() + settings.expiresIn * 1000)
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: settings.expiresIn,
    refresh_token: refreshToken
  }
}

const json = (response: Http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body)
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store"
  })
  response.end(text)
}

const token = (form: URLSearchParams, response: Http.ServerResponse) => {
  stats.tokenCalls++
  const answer = () => {
    if (form.get("grant_type") !== "refresh_token") {
      return json(response, 400, { error: "unsupported_grant_type" })
    }
    const presented = form.get("refresh_token") ?? ""
    const grantId = refreshTokens.get(presented)
    const grant = grantId === undefined ? undefined : grants.get(grantId)
    if (grantId === undefined || grant === undefined || grant.revoked) {
      stats.invalidGrant++
      return json(response, 400, { error: "invalid_grant", error_description: "grant not found" })
    }
    if (grant.current !== presented) {
      stats.reuse++
      stats.invalidGrant++
      if (settings.reuseDetection) grant.revoked = true
      return json(response, 400, { error: "invalid_grant", error_description: "refresh token already used" })
    }
    return json(response, 200, issue(grantId))
  }
  if (settings.latencyMs > 0) setTimeout(answer, settings.latencyMs)
  else answer()
}

const server = Http.createServer((request, response) => {
  if (request.method === "POST" && request.url === "/token") {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => token(new URLSearchParams(Buffer.concat(chunks).toString("utf8")), response))
    return
  }
  if (request.url === "/resource") {
    stats.resourceCalls++
    const header = request.headers.authorization ?? ""
    const expiresAt = header.startsWith("Bearer ") ? accessTokens.get(header.slice(7)) : undefined
    if (expiresAt === undefined || expiresAt <= Date.now()) {
      stats.resourceRejected++
      response.writeHead(401, { "www-authenticate": `Bearer error="invalid_token"`, "content-length": 0 })
      return response.end()
    }
    return json(response, 200, { ok: true })
  }
  json(response, 404, { error: "not_found" })
})
server.keepAliveTimeout = 60_000

type Request =
  | { readonly id: number; readonly op: "grant" }
  | { readonly id: number; readonly op: "configure"; readonly settings: Partial<typeof settings> }
  | { readonly id: number; readonly op: "stats" }
  | { readonly id: number; readonly op: "revoked"; readonly refreshToken: string }

process.on("message", (message: Request) => {
  const reply = (result: unknown) => process.send!({ id: message.id, result })
  switch (message.op) {
    case "grant": {
      const grantId = id()
      grants.set(grantId, { current: "", revoked: false })
      return reply(issue(grantId))
    }
    case "configure":
      Object.assign(settings, message.settings)
      return reply(settings)
    case "stats":
      return reply({ ...stats })
    case "revoked": {
      // Whether the grant a refresh token was issued for has been revoked.
      const grantId = refreshTokens.get(message.refreshToken)
      return reply(grantId === undefined ? true : grants.get(grantId)!.revoked)
    }
  }
})
process.on("disconnect", () => process.exit(0))

server.listen(0, "127.0.0.1", () => {
  const address = server.address() as { port: number }
  process.send!({ ready: address.port })
})
