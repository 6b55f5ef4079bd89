import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it, layer } from "@effect/vitest"
import * as Discovery from "@tokenfx/http/Discovery"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

type ClientName = "basic" | "post" | "public"

const methods = {
  basic: "client_secret_basic",
  post: "client_secret_post",
  public: "none"
} as const

const endpointFor = (name: ClientName) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const client = server.clients[name]
    return yield* TokenEndpoint.make({
      issuer: server.issuer,
      tokenEndpoint: server.tokenEndpoint,
      authorizationEndpoint: server.authorizationEndpoint,
      revocationEndpoint: server.revocationEndpoint,
      introspectionEndpoint: server.introspectionEndpoint,
      deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      clientAuthentication: methods[name]
    })
  })

// A full authorization code + PKCE round trip through the harness's login and consent.
const login = (endpoint: TokenEndpoint.TokenEndpoint["Type"]) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const request = yield* endpoint.authorizationUrl({
      redirectUri: server.redirectUri,
      scope: ["openid", "offline_access", "api:read"]
    })
    const callback = yield* server.authorize(request.url)
    return yield* endpoint.exchangeCode(request, callback)
  })

layer(Layer.mergeAll(OidcProvider.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })(
  "TokenEndpoint against oidc-provider",
  (it) => {
    it.effect("discovery finds every endpoint and checks the issuer", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const metadata = yield* Discovery.discover(server.issuer)
        assert.strictEqual(metadata.issuer, server.issuer)
        assert.strictEqual(metadata.token_endpoint, server.tokenEndpoint)
        assert.strictEqual(metadata.revocation_endpoint, server.revocationEndpoint)
        assert.strictEqual(metadata.introspection_endpoint, server.introspectionEndpoint)
        assert.strictEqual(metadata.device_authorization_endpoint, server.deviceAuthorizationEndpoint)
        const mismatch = yield* Effect.flip(
          Discovery.discover(server.issuer.replace("127.0.0.1", "localhost"), { kind: "openid-configuration" })
        )
        assert.strictEqual(mismatch._tag, "IssuerMismatch")
      }))

    it.effect("client credentials with client_secret_basic and client_secret_post", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const before = (yield* server.stats).tokenRequests["client_credentials"] ?? 0
        for (const name of ["basic", "post"] as const) {
          const endpoint = yield* endpointFor(name)
          const token = yield* endpoint.clientCredentials({ scope: "api:read" })
          assert.strictEqual(token.tokenType, "Bearer")
          assert.deepStrictEqual(token.scopes, ["api:read"])
          assert.isUndefined(token.refreshToken)
          assert.isDefined(token.expiresAt)
        }
        assert.strictEqual((yield* server.stats).tokenRequests["client_credentials"], before + 2)
      }))

    it.effect("a wrong secret is InvalidClient and is not retried", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const before = (yield* server.stats).grantErrors["invalid_client"] ?? 0
        const endpoint = yield* TokenEndpoint.make({
          tokenEndpoint: server.tokenEndpoint,
          clientId: server.clients.basic.clientId,
          clientSecret: Redacted.make("sp3c!al:secret+/=?&%~")
        })
        const error = yield* Effect.flip(endpoint.clientCredentials())
        assert.strictEqual(error._tag, "InvalidClient")
        assert.strictEqual((yield* server.stats).grantErrors["invalid_client"], before + 1)
      }))

    it.effect("authorization code + PKCE for the public client, with state and iss checked", () =>
      Effect.gen(function*() {
        const endpoint = yield* endpointFor("public")
        const token = yield* login(endpoint)
        assert.isDefined(token.refreshToken)
        assert.isDefined(token.idToken)
        assert.includeMembers([...token.scopes], ["openid", "api:read"])
      }))

    it.effect("authorization code through a discovered endpoint, which requires iss", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* TokenEndpoint.discover({
          issuer: server.issuer,
          clientId: server.clients.post.clientId,
          clientSecret: server.clients.post.clientSecret
        })
        const request = yield* endpoint.authorizationUrl({ redirectUri: server.redirectUri, scope: "openid" })
        const callback = yield* server.authorize(request.url)
        assert.strictEqual(callback.iss, server.issuer)
        const stripped = yield* Effect.flip(
          endpoint.exchangeCode(request, { code: callback.code, state: callback.state })
        )
        assert.strictEqual(stripped._tag === "InvalidAuthorizationResponse" && stripped.reason, "MissingIssuer")
        const token = yield* endpoint.exchangeCode(request, callback)
        assert.isDefined(token.refreshToken)
      }))

    it.effect("refresh rotates; the old refresh token then fails with InvalidGrant", () =>
      Effect.gen(function*() {
        const endpoint = yield* endpointFor("basic")
        const first = yield* login(endpoint)
        const second = yield* endpoint.refresh(first)
        assert.notStrictEqual(Redacted.value(second.accessToken), Redacted.value(first.accessToken))
        assert.notStrictEqual(Redacted.value(second.refreshToken!), Redacted.value(first.refreshToken!))
        const reused = yield* Effect.flip(endpoint.refresh(first))
        assert.strictEqual(reused._tag, "InvalidGrant")
        // oidc-provider revokes the whole grant when a rotated refresh token comes back.
        const revoked = yield* Effect.flip(endpoint.refresh(second))
        assert.strictEqual(revoked._tag, "InvalidGrant")
      }))

    it.effect("device flow: pending polls, then the token once the user approves", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* endpointFor("public")
        const before = (yield* server.stats).grantErrors["authorization_pending"] ?? 0
        const authorization = yield* endpoint.deviceAuthorization({ scope: "openid api:read" })
        assert.isTrue(authorization.verificationUri.startsWith(server.issuer))
        const polling = yield* Effect.fork(endpoint.pollDeviceToken(authorization, { interval: "50 millis" }))
        yield* Effect.sleep("200 millis")
        yield* server.approveDevice(authorization.userCode)
        const token = yield* Fiber.join(polling)
        assert.isDefined(token.refreshToken)
        assert.isAbove((yield* server.stats).grantErrors["authorization_pending"] ?? 0, before)
      }))

    it.effect("device flow: a denial is AccessDenied", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* endpointFor("basic")
        const authorization = yield* endpoint.deviceAuthorization()
        yield* server.denyDevice(authorization.userCode)
        const error = yield* Effect.flip(endpoint.pollDeviceToken(authorization, { interval: "20 millis" }))
        assert.strictEqual(error._tag, "AccessDenied")
      }))

    it.effect("introspection and revocation", () =>
      Effect.gen(function*() {
        const endpoint = yield* endpointFor("basic")
        const token = yield* login(endpoint)
        const active = yield* endpoint.introspect(token.accessToken, "access_token")
        assert.isTrue(active.active)
        assert.strictEqual(active.client_id, "tokenfx-basic")
        assert.include(active.scope ?? "", "api:read")
        yield* endpoint.revoke(token.accessToken, "access_token")
        assert.isFalse((yield* endpoint.introspect(token.accessToken)).active)
        yield* endpoint.revoke(token.refreshToken!, "refresh_token")
        const error = yield* Effect.flip(endpoint.refresh(token))
        assert.strictEqual(error._tag, "InvalidGrant")
        // Revoking an unknown token is not an error (RFC 7009 section 2.2).
        yield* endpoint.revoke(Redacted.make("not-a-token"))
      }))
  }
)

describe("TokenEndpoint against oidc-provider with a secret that needs encoding", () => {
  it.scopedLive("client_secret_basic and client_secret_post both get a token, and authenticate introspection", () =>
    Effect.gen(function*() {
      const secret = "sp3c!al:secret+/=?&%~"
      const server = yield* OidcProvider.make({ clientSecret: secret })
      for (const name of ["basic", "post"] as const) {
        const client = server.clients[name]
        assert.strictEqual(Redacted.value(client.clientSecret!), secret)
        const endpoint = yield* TokenEndpoint.make({
          tokenEndpoint: server.tokenEndpoint,
          introspectionEndpoint: server.introspectionEndpoint,
          clientId: client.clientId,
          clientSecret: client.clientSecret,
          clientAuthentication: methods[name]
        })
        const token = yield* endpoint.clientCredentials({ scope: "api:read" })
        assert.deepStrictEqual(token.scopes, ["api:read"], name)
        const introspection = yield* endpoint.introspect(token.accessToken, "access_token")
        assert.isTrue(introspection.active, name)
        assert.strictEqual(introspection.client_id, client.clientId)
      }
      const stats = yield* server.stats
      assert.strictEqual(stats.tokenRequests["client_credentials"], 2)
      assert.strictEqual(stats.grantErrors["invalid_client"] ?? 0, 0)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici)))
})

describe("TokenEndpoint over real fetch", () => {
  it.scopedLive("a redirect from the token endpoint is refused, never followed", () =>
    Effect.gen(function*() {
      let followed = 0
      const http = createServer((request, response) => {
        if (request.url === "/elsewhere") {
          followed++
          response.writeHead(200, { "content-type": "application/json" }).end(
            JSON.stringify({ access_token: "stolen", token_type: "Bearer" })
          )
          return
        }
        response.writeHead(307, { location: "/elsewhere" }).end()
      })
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => {
          http.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () =>
          Effect.async<void>((resume) => {
            http.close(() => resume(Effect.void))
          })
      )
      const { port } = http.address() as AddressInfo
      const endpoint = yield* TokenEndpoint.make({
        tokenEndpoint: `http://127.0.0.1:${port}/token`,
        clientId: "c",
        clientSecret: Redacted.make("s")
      })
      const error = yield* Effect.flip(endpoint.clientCredentials())
      assert.strictEqual(error._tag === "TransportError" && error.reason, "Redirect")
      assert.strictEqual(followed, 0)
    }).pipe(Effect.provide(FetchHttpClient.layer)))

  it.scopedLive("a refused connection is a TransportError, retried then returned", () =>
    Effect.gen(function*() {
      const endpoint = yield* TokenEndpoint.make({
        tokenEndpoint: "http://127.0.0.1:1/token",
        clientId: "c",
        backoff: { maxAttempts: 2, base: "10 millis" }
      })
      const error = yield* Effect.flip(endpoint.clientCredentials())
      assert.strictEqual(error._tag === "TransportError" && error.reason, "Connection")
    }).pipe(Effect.provide(FetchHttpClient.layer)))
})
