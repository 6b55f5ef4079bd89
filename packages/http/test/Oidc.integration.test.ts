/**
 * OpenID Connect against oidc-provider: verified ID tokens (and the issuer rotating its keys), UserInfo,
 * `private_key_jwt` and `client_secret_jwt` through every grant, and DPoP-bound tokens with server
 * nonces through `AuthorizedClient`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, layer } from "@effect/vitest"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Discovery from "@tokenfx/http/Discovery"
import * as Dpop from "@tokenfx/http/Dpop"
import * as Jwks from "@tokenfx/http/Jwks"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as UserInfo from "@tokenfx/http/UserInfo"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as jose from "jose"

const login = (endpoint: TokenEndpoint.TokenEndpoint["Type"]) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const request = yield* endpoint.authorizationUrl({
      redirectUri: server.redirectUri,
      scope: ["openid", "offline_access", "api:read"],
      nonce: true
    })
    const callback = yield* server.authorize(request.url)
    return yield* endpoint.exchangeCode(request, callback)
  })

const endpoints = (server: OidcProvider.OidcServer) => ({
  issuer: server.issuer,
  tokenEndpoint: server.tokenEndpoint,
  authorizationEndpoint: server.authorizationEndpoint,
  revocationEndpoint: server.revocationEndpoint,
  introspectionEndpoint: server.introspectionEndpoint,
  deviceAuthorizationEndpoint: server.deviceAuthorizationEndpoint,
  jwksUri: server.jwksUri
})

const kidOf = (token: Redacted.Redacted<string> | undefined) =>
  token === undefined ? undefined : jose.decodeProtectedHeader(Redacted.value(token)).kid

// Every grant and the endpoints around them, for a client however it authenticates.
const everyGrant = (endpoint: TokenEndpoint.TokenEndpoint["Type"]) =>
  Effect.gen(function*() {
    const server = yield* OidcProvider.OidcProvider
    const token = yield* login(endpoint)
    assert.strictEqual(token.idTokenClaims?.sub, "alice")
    const refreshed = yield* endpoint.refresh(token)
    assert.isDefined(refreshed.refreshToken)
    const machine = yield* endpoint.clientCredentials({ scope: "api:read" })
    assert.deepStrictEqual(machine.scopes, ["api:read"])
    const device = yield* endpoint.deviceAuthorization({ scope: ["openid", "api:read"] })
    yield* server.approveDevice(device.userCode)
    const polled = yield* endpoint.pollDeviceToken(device, { interval: "10 millis" })
    // The device flow's ID token is verified too.
    assert.strictEqual(polled.idTokenClaims?.sub, "alice")
    const active = yield* endpoint.introspect(refreshed.accessToken)
    assert.isTrue(active.active)
    yield* endpoint.revoke(refreshed.accessToken, "access_token")
    assert.isFalse((yield* endpoint.introspect(refreshed.accessToken)).active)
  })

layer(Layer.mergeAll(OidcProvider.layer(), NodeHttpClient.layerUndici), { excludeTestServices: true })(
  "OpenID Connect against oidc-provider",
  (it) => {
    it.effect("a verified login: discovery, the ID token checked (nonce included), its claims on the Token", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* TokenEndpoint.discover({
          issuer: server.issuer,
          discovery: "openid-configuration",
          ...server.clients.basic
        })
        const token = yield* login(endpoint)
        assert.strictEqual(token.idTokenClaims?.sub, "alice")
        assert.strictEqual(token.idTokenClaims?.iss, server.issuer)
        assert.strictEqual(token.idTokenClaims?.aud, server.clients.basic.clientId)
        assert.isString(token.idTokenClaims?.["nonce"])
        // A refresh with a new ID token is verified again, bound to the same subject.
        const refreshed = yield* endpoint.refresh(token)
        assert.strictEqual(refreshed.idTokenClaims?.sub, "alice")
        assert.notStrictEqual(Redacted.value(refreshed.idToken!), Redacted.value(token.idToken!))
        const metadata = yield* Discovery.discover(server.issuer, { kind: "openid-configuration" })
        assert.strictEqual(metadata.userinfo_endpoint, server.userinfoEndpoint)
        const info = yield* UserInfo.fetch(metadata.userinfo_endpoint!, refreshed)
        assert.strictEqual(info.sub, "alice")
        const other = yield* Effect.flip(UserInfo.fetch(server.userinfoEndpoint, refreshed, { subject: "bob" }))
        assert.strictEqual(other._tag, "SubjectMismatch")
      }))

    it.effect("signed UserInfo: a client registered for it verifies the JWT answer with the issuer's keys", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const client = server.clients.signedUserInfo
        const endpoint = yield* TokenEndpoint.make({ ...endpoints(server), ...client })
        const token = yield* login(endpoint)
        const jwks = yield* Jwks.make({ uri: server.jwksUri })
        const signed = { jwks, issuer: server.issuer, clientId: client.clientId }
        const info = yield* UserInfo.fetch(server.userinfoEndpoint, token, { signed })
        assert.strictEqual(info.sub, "alice")
        assert.strictEqual(info["iss"], server.issuer)
        assert.strictEqual(info["aud"], client.clientId)
        // Without the key set the signed answer is refused, not read unverified.
        const unverified = yield* Effect.flip(UserInfo.fetch(server.userinfoEndpoint, token))
        assert.strictEqual(unverified._tag === "InvalidUserInfo" && unverified.reason, "Unverifiable")
        // Checked against another client's id, the audience is wrong.
        const otherClient = yield* Effect.flip(
          UserInfo.fetch(server.userinfoEndpoint, token, { signed: { ...signed, clientId: "tokenfx-basic" } })
        )
        assert.strictEqual(otherClient._tag === "InvalidUserInfo" && otherClient.reason, "Audience")
        // A client registered for JSON answers gets JSON, which is refused where a signed one is required.
        const basic = yield* TokenEndpoint.make({ ...endpoints(server), ...server.clients.basic })
        const plain = yield* login(basic)
        const unsigned = yield* Effect.flip(UserInfo.fetch(server.userinfoEndpoint, plain, { signed }))
        assert.strictEqual(unsigned._tag === "InvalidUserInfo" && unsigned.reason, "Unsigned")
      }))

    it.effect("max_age: the ID token's auth_time is required and checked", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* TokenEndpoint.make({ ...endpoints(server), ...server.clients.basic })
        const request = yield* endpoint.authorizationUrl({
          redirectUri: server.redirectUri,
          scope: ["openid"],
          nonce: true,
          extra: { max_age: "300" }
        })
        const token = yield* endpoint.exchangeCode(request, yield* server.authorize(request.url))
        assert.isNumber(token.idTokenClaims?.["auth_time"])
      }))

    it.effect("a key rotation at the issuer is picked up through the key set cache", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        // Real sockets, but the cache's cooldown measured on a TestClock set to the real time.
        yield* TestClock.setTime(Date.now())
        const endpoint = yield* TokenEndpoint.make({ ...endpoints(server), ...server.clients.basic })
        const before = yield* login(endpoint)
        yield* server.rotateSigningKey
        yield* TestClock.adjust("31 seconds")
        const after = yield* login(endpoint)
        assert.strictEqual(after.idTokenClaims?.sub, "alice")
        assert.notStrictEqual(kidOf(after.idToken), kidOf(before.idToken))
      }).pipe(Effect.provide(TestContext.TestContext)))

    it.effect("private_key_jwt (a JWK, then PEM) through every grant, revocation and introspection", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const client = server.clients.privateKeyJwt
        const before = (yield* server.stats).grantErrors["invalid_client"] ?? 0
        for (const key of [client.privateKeyJwk!, client.privateKeyPem!]) {
          const endpoint = yield* TokenEndpoint.make({
            ...endpoints(server),
            clientId: client.clientId,
            clientPrivateKey: key
          })
          yield* everyGrant(endpoint)
        }
        assert.strictEqual((yield* server.stats).grantErrors["invalid_client"] ?? 0, before)
      }))

    it.effect("client_secret_jwt through every grant", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const endpoint = yield* TokenEndpoint.make({
          ...endpoints(server),
          ...server.clients.secretJwt,
          clientAuthentication: "client_secret_jwt"
        })
        yield* everyGrant(endpoint)
      }))

    it.effect("a private_key_jwt client with the wrong key is refused by the server (invalid_client)", () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
        const wrong = JSON.stringify(yield* Effect.promise(() => jose.exportJWK(privateKey)))
        const endpoint = yield* TokenEndpoint.make({
          ...endpoints(server),
          clientId: server.clients.privateKeyJwt.clientId,
          clientPrivateKey: Redacted.make(wrong)
        })
        const error = yield* Effect.flip(endpoint.clientCredentials({ scope: "api:read" }))
        assert.strictEqual(error._tag, "InvalidClient")
      }))
  }
)

layer(
  Layer.mergeAll(OidcProvider.layer({ requireDpopNonce: true }), NodeHttpClient.layerUndici),
  { excludeTestServices: true }
)("DPoP against oidc-provider that requires nonces", (it) => {
  it.scoped("DPoP-bound tokens: the token endpoint, a refresh, and AuthorizedClient, each with a server nonce", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const dpop = yield* Dpop.generate()
      const endpoint = yield* TokenEndpoint.make({ ...endpoints(server), ...server.clients.basic, dpop })
      const token = yield* login(endpoint)
      assert.strictEqual(token.tokenType, "DPoP")
      const introspected = yield* endpoint.introspect(token.accessToken)
      assert.strictEqual((introspected["cnf"] as { readonly jkt?: string } | undefined)?.jkt, dpop.thumbprint)
      const refreshed = yield* endpoint.refresh(token)
      assert.strictEqual(refreshed.tokenType, "DPoP")
      const cnf = (yield* endpoint.introspect(refreshed.accessToken))["cnf"] as { readonly jkt?: string } | undefined
      assert.strictEqual(cnf?.jkt, dpop.thumbprint)

      const store = yield* TokenStore.makeMemory
      const manager = yield* TokenManager.make().pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      yield* manager.set("alice", refreshed)
      const base = yield* HttpClient.HttpClient
      let sent = 0
      const counted = HttpClient.tapRequest(base, () => Effect.sync(() => sent++))
      const client = AuthorizedClient.authorize(counted, manager, { key: "alice", origin: server.issuer, dpop })
      const response = yield* client.get(server.userinfoEndpoint)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(((yield* response.json) as { readonly sub: string }).sub, "alice")
      // A nonce the resource no longer accepts: it answers use_dpop_nonce, the client tries once more.
      dpop.setNonce(server.issuer, "a-stale-nonce")
      const before = sent
      assert.strictEqual((yield* client.get(server.userinfoEndpoint)).status, 200)
      assert.strictEqual(sent - before, 2)
      assert.notStrictEqual(dpop.nonce(server.issuer), "a-stale-nonce")

      // Without the key, the bound token is worthless: as Bearer, or as DPoP with another key's proof.
      const bearer = yield* base.get(server.userinfoEndpoint, {
        headers: { authorization: `Bearer ${Redacted.value(refreshed.accessToken)}` }
      })
      assert.strictEqual(bearer.status, 401)
      const asBearer = yield* base.get(server.resourceUrl, {
        headers: { authorization: `Bearer ${Redacted.value(refreshed.accessToken)}` }
      })
      assert.strictEqual(asBearer.status, 401)
      const thief = AuthorizedClient.authorize(base, manager, {
        key: "alice",
        origin: server.issuer,
        dpop: yield* Dpop.generate()
      })
      const stolen = yield* Effect.flip(thief.get(server.userinfoEndpoint))
      assert.strictEqual(stolen._tag, "InvalidToken")
    }))
})
