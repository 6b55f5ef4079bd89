import { assert, describe, it, layer } from "@effect/vitest"
import * as Pkce from "@tokenfx/core/Pkce"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

// A client as plain as can be: fetch and form bodies, so that the harness is tested, not tokenfx.
interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly json: Record<string, unknown>
}

const send = (url: string, init?: RequestInit) =>
  Effect.promise(async (): Promise<Reply> => {
    const response = await fetch(url, init)
    const text = await response.text()
    return { status: response.status, headers: response.headers, json: text.length > 0 ? JSON.parse(text) : {} }
  })

const post = (
  url: string,
  client: OidcProvider.Client,
  auth: "basic" | "post" | "none",
  form: Record<string, string>
) => {
  const body = new URLSearchParams(form)
  const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded" }
  const secret = client.clientSecret === undefined ? "" : Redacted.value(client.clientSecret)
  if (auth === "basic") {
    headers.authorization = `Basic ${btoa(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(secret)}`)}`
  } else {
    body.set("client_id", client.clientId)
    if (auth === "post") body.set("client_secret", secret)
  }
  return send(url, { method: "POST", headers, body })
}

const resource = (server: OidcProvider.OidcServer, accessToken: unknown, query = "") =>
  send(`${server.resourceUrl}${query}`, { headers: { authorization: `Bearer ${String(accessToken)}` } })

// Authorization code with PKCE for the public client, as far as the token response.
const loginPublic = (server: OidcProvider.OidcServer, accountId?: string) =>
  Effect.gen(function*() {
    const pkce = yield* Pkce.make
    const url = new URL(server.authorizationEndpoint)
    url.search = new URLSearchParams({
      client_id: server.clients.public.clientId,
      response_type: "code",
      redirect_uri: server.redirectUri,
      scope: "openid api:read",
      state: "the-state",
      code_challenge: pkce.challenge,
      code_challenge_method: "S256"
    }).toString()
    const result = yield* server.authorize(url.href, accountId)
    assert.strictEqual(result.state, "the-state")
    assert.strictEqual(result.iss, server.issuer)
    return yield* post(server.tokenEndpoint, server.clients.public, "none", {
      grant_type: "authorization_code",
      code: result.code,
      redirect_uri: server.redirectUri,
      code_verifier: Redacted.value(pkce.verifier)
    })
  })

// Authorization code for a confidential client (no PKCE).
const loginConfidential = (server: OidcProvider.OidcServer, accountId: string) =>
  Effect.gen(function*() {
    const url = new URL(server.authorizationEndpoint)
    url.search = new URLSearchParams({
      client_id: server.clients.post.clientId,
      response_type: "code",
      redirect_uri: server.redirectUri,
      scope: "offline_access api:write"
    }).toString()
    const { code } = yield* server.authorize(url.href, accountId)
    return yield* post(server.tokenEndpoint, server.clients.post, "post", {
      grant_type: "authorization_code",
      code,
      redirect_uri: server.redirectUri
    })
  })

const refresh = (server: OidcProvider.OidcServer, refreshToken: unknown) =>
  post(server.tokenEndpoint, server.clients.public, "none", {
    grant_type: "refresh_token",
    refresh_token: String(refreshToken)
  })

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

layer(OidcProvider.layer(), { excludeTestServices: true })("OidcProvider", (it) => {
  it.effect("serves a discovery document naming its endpoints", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      assert.match(server.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
      const { json, status } = yield* send(`${server.issuer}/.well-known/openid-configuration`)
      assert.strictEqual(status, 200)
      assert.strictEqual(json.issuer, server.issuer)
      assert.strictEqual(json.token_endpoint, server.tokenEndpoint)
      assert.strictEqual(json.authorization_endpoint, server.authorizationEndpoint)
      assert.strictEqual(json.revocation_endpoint, server.revocationEndpoint)
      assert.strictEqual(json.introspection_endpoint, server.introspectionEndpoint)
      assert.strictEqual(json.device_authorization_endpoint, server.deviceAuthorizationEndpoint)
    }))

  it.effect("issues client credentials tokens with basic and post authentication", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const before = yield* server.stats
      const basic = yield* post(server.tokenEndpoint, server.clients.basic, "basic", {
        grant_type: "client_credentials",
        scope: "api:read"
      })
      assert.strictEqual(basic.status, 200)
      assert.strictEqual(basic.json.token_type, "Bearer")
      assert.strictEqual(basic.json.expires_in, 60)
      assert.strictEqual(basic.json.scope, "api:read")
      assert.isUndefined(basic.json.refresh_token)
      const post_ = yield* post(server.tokenEndpoint, server.clients.post, "post", { grant_type: "client_credentials" })
      assert.strictEqual(post_.status, 200)

      const wrong = yield* post(
        server.tokenEndpoint,
        { clientId: server.clients.basic.clientId, clientSecret: Redacted.make("nope") },
        "basic",
        {
          grant_type: "client_credentials"
        }
      )
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(wrong.json.error, "invalid_client")

      const seen = yield* resource(server, basic.json.access_token)
      assert.strictEqual(seen.status, 200)
      assert.deepStrictEqual(seen.json, {
        sub: server.clients.basic.clientId,
        client_id: server.clients.basic.clientId,
        scope: "api:read"
      })

      const after = yield* server.stats
      assert.strictEqual(
        (after.tokenRequests.client_credentials ?? 0) - (before.tokenRequests.client_credentials ?? 0),
        2
      )
      assert.strictEqual((after.grantErrors.invalid_client ?? 0) - (before.grantErrors.invalid_client ?? 0), 1)
      assert.strictEqual(after.resourceRequests - before.resourceRequests, 1)
    }))

  it.effect("authorize completes login and consent; the code exchanges for tokens with a refresh token", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const tokens = yield* loginPublic(server)
      assert.strictEqual(tokens.status, 200)
      assert.isString(tokens.json.access_token)
      assert.isString(tokens.json.refresh_token)
      assert.isString(tokens.json.id_token)
      assert.strictEqual(tokens.json.expires_in, 60)
      assert.include(String(tokens.json.scope).split(" "), "api:read")
      const seen = yield* resource(server, tokens.json.access_token)
      assert.strictEqual(seen.status, 200)
      assert.strictEqual(seen.json.sub, "alice")
      assert.strictEqual(seen.json.client_id, server.clients.public.clientId)

      // a confidential client, another account, refresh tokens without offline_access being special
      const bob = yield* loginConfidential(server, "bob")
      assert.strictEqual(bob.status, 200)
      assert.isString(bob.json.refresh_token)
      assert.strictEqual((yield* resource(server, bob.json.access_token)).json.sub, "bob")
    }))

  it.effect("authorize dies with the server's error", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const url = new URL(server.authorizationEndpoint)
      // the public client must use PKCE
      url.search = new URLSearchParams({
        client_id: server.clients.public.clientId,
        response_type: "code",
        redirect_uri: server.redirectUri,
        scope: "openid"
      }).toString()
      const exit = yield* Effect.exit(server.authorize(url.href))
      assert.isTrue(exit._tag === "Failure")
      assert.include(String(exit._tag === "Failure" ? exit.cause : ""), "invalid_request")
    }))

  it.effect("rotates refresh tokens and revokes the whole grant when a rotated one is reused", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const before = yield* server.stats
      const first = yield* loginPublic(server)
      const second = yield* refresh(server, first.json.refresh_token)
      assert.strictEqual(second.status, 200)
      assert.isString(second.json.refresh_token)
      assert.notStrictEqual(second.json.refresh_token, first.json.refresh_token)
      assert.notStrictEqual(second.json.access_token, first.json.access_token)

      const reuse = yield* refresh(server, first.json.refresh_token)
      assert.strictEqual(reuse.status, 400)
      assert.strictEqual(reuse.json.error, "invalid_grant")
      const afterReuse = yield* refresh(server, second.json.refresh_token)
      assert.strictEqual(afterReuse.json.error, "invalid_grant")
      assert.strictEqual((yield* resource(server, second.json.access_token)).status, 401)

      const after = yield* server.stats
      assert.strictEqual((after.tokenRequests.refresh_token ?? 0) - (before.tokenRequests.refresh_token ?? 0), 1)
      assert.strictEqual((after.grantErrors.invalid_grant ?? 0) - (before.grantErrors.invalid_grant ?? 0), 2)
    }))

  it.effect("device flow: pending, approved by an account, denied", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const start = () =>
        post(server.deviceAuthorizationEndpoint, server.clients.basic, "basic", { scope: "openid api:read" })
      const poll = (deviceCode: unknown) =>
        post(server.tokenEndpoint, server.clients.basic, "basic", {
          grant_type: deviceGrant,
          device_code: String(deviceCode)
        })

      const approved = yield* start()
      assert.strictEqual(approved.status, 200)
      assert.strictEqual(approved.json.expires_in, 600)
      assert.strictEqual((yield* poll(approved.json.device_code)).json.error, "authorization_pending")
      yield* server.approveDevice(String(approved.json.user_code), "dave")
      const tokens = yield* poll(approved.json.device_code)
      assert.strictEqual(tokens.status, 200)
      assert.isString(tokens.json.refresh_token)
      assert.strictEqual((yield* resource(server, tokens.json.access_token)).json.sub, "dave")
      // a user code works once
      assert.isTrue((yield* Effect.exit(server.approveDevice(String(approved.json.user_code))))._tag === "Failure")

      const denied = yield* start()
      yield* server.denyDevice(String(denied.json.user_code))
      const refused = yield* poll(denied.json.device_code)
      assert.strictEqual(refused.status, 400)
      assert.strictEqual(refused.json.error, "access_denied")

      const stats = yield* server.stats
      assert.isAtLeast(stats.tokenRequests[deviceGrant] ?? 0, 1)
      assert.isAtLeast(stats.grantErrors.authorization_pending ?? 0, 1)
      assert.isAtLeast(stats.grantErrors.access_denied ?? 0, 1)
    }))

  it.effect("revokeGrants kills every refresh token of the account and no other", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const carol = yield* loginConfidential(server, "carol")
      const erin = yield* loginConfidential(server, "erin")
      yield* server.revokeGrants("carol")
      const dead = yield* post(server.tokenEndpoint, server.clients.post, "post", {
        grant_type: "refresh_token",
        refresh_token: String(carol.json.refresh_token)
      })
      assert.strictEqual(dead.json.error, "invalid_grant")
      assert.strictEqual((yield* resource(server, carol.json.access_token)).status, 401)
      const alive = yield* post(server.tokenEndpoint, server.clients.post, "post", {
        grant_type: "refresh_token",
        refresh_token: String(erin.json.refresh_token)
      })
      assert.strictEqual(alive.status, 200)
    }))

  it.effect("the resource answers 401 invalid_token and 403 insufficient_scope", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const missing = yield* send(server.resourceUrl)
      assert.strictEqual(missing.status, 401)
      assert.match(missing.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/)
      const garbage = yield* resource(server, "not-a-token")
      assert.strictEqual(garbage.status, 401)
      assert.match(garbage.headers.get("www-authenticate") ?? "", /^Bearer error="invalid_token"/)

      const { json } = yield* post(server.tokenEndpoint, server.clients.basic, "basic", {
        grant_type: "client_credentials",
        scope: "api:read"
      })
      assert.strictEqual((yield* resource(server, json.access_token, "?scope=api:read")).status, 200)
      const forbidden = yield* resource(server, json.access_token, "?scope=api:write")
      assert.strictEqual(forbidden.status, 403)
      assert.match(forbidden.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/)
    }))

  it.effect("revocation and introspection endpoints work and are counted", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const before = yield* server.stats
      const { json } = yield* post(server.tokenEndpoint, server.clients.basic, "basic", {
        grant_type: "client_credentials"
      })
      const active = yield* post(server.introspectionEndpoint, server.clients.basic, "basic", {
        token: String(json.access_token)
      })
      assert.strictEqual(active.json.active, true)
      assert.strictEqual(active.json.client_id, server.clients.basic.clientId)
      const revoked = yield* post(server.revocationEndpoint, server.clients.basic, "basic", {
        token: String(json.access_token)
      })
      assert.strictEqual(revoked.status, 200)
      assert.strictEqual((yield* resource(server, json.access_token)).status, 401)
      const inactive = yield* post(server.introspectionEndpoint, server.clients.basic, "basic", {
        token: String(json.access_token)
      })
      assert.strictEqual(inactive.json.active, false)
      const after = yield* server.stats
      assert.strictEqual(after.introspectionRequests - before.introspectionRequests, 2)
      assert.strictEqual(after.revocationRequests - before.revocationRequests, 1)
    }))
  it.effect("the native client takes a loopback redirect on any port, the registered client none other", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const pkce = yield* Pkce.make
      const url = (clientId: string, redirectUri: string) => {
        const url = new URL(server.authorizationEndpoint)
        url.search = new URLSearchParams({
          client_id: clientId,
          response_type: "code",
          redirect_uri: redirectUri,
          scope: "openid api:read",
          state: "s",
          code_challenge: pkce.challenge,
          code_challenge_method: "S256"
        }).toString()
        return url.href
      }
      const redirectUri = "http://127.0.0.1:49152/callback"
      const result = yield* server.authorize(url(server.clients.native.clientId, redirectUri))
      const token = yield* post(server.tokenEndpoint, server.clients.native, "none", {
        grant_type: "authorization_code",
        code: result.code,
        redirect_uri: redirectUri,
        code_verifier: Redacted.value(pkce.verifier)
      })
      assert.strictEqual(token.status, 200)
      const refused = yield* Effect.exit(server.authorize(url(server.clients.public.clientId, redirectUri)))
      assert.strictEqual(refused._tag, "Failure")
    }))

  it.effect("invalidateAccessTokens makes the resource answer 401, and the refresh token still works", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const login = yield* loginPublic(server, "carol")
      assert.strictEqual((yield* resource(server, login.json.access_token)).status, 200)
      yield* server.invalidateAccessTokens("carol")
      assert.strictEqual((yield* resource(server, login.json.access_token)).status, 401)
      const refreshed = yield* refresh(server, login.json.refresh_token)
      assert.strictEqual(refreshed.status, 200)
      assert.strictEqual((yield* resource(server, refreshed.json.access_token)).status, 200)
    }))

  it.effect("rateLimitTokenEndpoint answers 429 with Retry-After, then serves again", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const before = yield* server.stats
      yield* server.rateLimitTokenEndpoint(2, 3)
      for (let i = 0; i < 2; i++) {
        const limited = yield* post(server.tokenEndpoint, server.clients.basic, "basic", {
          grant_type: "client_credentials"
        })
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(limited.headers.get("retry-after"), "3")
        assert.strictEqual(limited.json.error, "rate_limited")
      }
      const served = yield* post(server.tokenEndpoint, server.clients.basic, "basic", {
        grant_type: "client_credentials"
      })
      assert.strictEqual(served.status, 200)
      const after = yield* server.stats
      assert.strictEqual(after.grantErrors["rate_limited"], (before.grantErrors["rate_limited"] ?? 0) + 2)
    }))
})

describe("OidcProvider options", () => {
  it.scopedLive("honours the token lifetimes and rotateRefreshToken: false", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.make({
        accessTokenTtl: 5,
        refreshTokenTtl: 100,
        deviceCodeTtl: 30,
        rotateRefreshToken: false
      })
      const first = yield* loginPublic(server)
      assert.strictEqual(first.json.expires_in, 5)
      const second = yield* refresh(server, first.json.refresh_token)
      assert.strictEqual(second.status, 200)
      assert.strictEqual(second.json.expires_in, 5)
      // no rotation: the same refresh token comes back and keeps working
      assert.strictEqual(second.json.refresh_token, first.json.refresh_token)
      assert.strictEqual((yield* refresh(server, first.json.refresh_token)).status, 200)
      const device = yield* post(server.deviceAuthorizationEndpoint, server.clients.basic, "basic", {})
      assert.strictEqual(device.json.expires_in, 30)
    }))

  it.scopedLive("clientSecret sets the secret of the basic and post clients, special characters included", () =>
    Effect.gen(function*() {
      const secret = "sp3c!al:secret+/=?&%~"
      const server = yield* OidcProvider.make({ clientSecret: secret })
      assert.strictEqual(Redacted.value(server.clients.basic.clientSecret!), secret)
      assert.strictEqual(Redacted.value(server.clients.post.clientSecret!), secret)
      for (const auth of ["basic", "post"] as const) {
        const granted = yield* post(server.tokenEndpoint, server.clients[auth], auth, {
          grant_type: "client_credentials"
        })
        assert.strictEqual(granted.status, 200, auth)
      }
      const redacted = yield* OidcProvider.make({ clientSecret: Redacted.make(secret) })
      assert.strictEqual(Redacted.value(redacted.clients.post.clientSecret!), secret)
      // The default stays random per start.
      const random = yield* OidcProvider.make()
      assert.notStrictEqual(Redacted.value(random.clients.basic.clientSecret!), secret)
      assert.notStrictEqual(
        Redacted.value(random.clients.basic.clientSecret!),
        Redacted.value(random.clients.post.clientSecret!)
      )
    }))

  it.scopedLive("closes with its scope", () =>
    Effect.gen(function*() {
      const issuer = yield* Effect.scoped(Effect.map(OidcProvider.make(), (server) => server.issuer))
      const exit = yield* Effect.exit(Effect.tryPromise(() => fetch(`${issuer}/.well-known/openid-configuration`)))
      assert.strictEqual(exit._tag, "Failure")
    }))
})
