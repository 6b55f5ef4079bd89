import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Dpop from "@tokenfx/http/Dpop"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

const NOW = 1_800_000_000

// Checks a proof as a server would (signature with the embedded key, typ) and returns its parts.
const readProof = (proof: string | undefined) =>
  Effect.promise(async () => {
    assert.isString(proof)
    const { payload, protectedHeader } = await jose.jwtVerify(proof!, jose.EmbeddedJWK, { typ: "dpop+jwt" })
    return { payload, header: protectedHeader }
  })

const sha256 = (text: string) =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))).pipe(
    Effect.map((digest) => Buffer.from(digest).toString("base64url"))
  )

describe("Dpop", () => {
  it.effect("a proof: htm, htu without query or fragment, iat from Clock, a fresh jti, ath, the public key only", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const dpop = yield* Dpop.generate()
      const server = FakeHttp.make([{ status: 200 }])
      const client = Dpop.withProofs(server.client, dpop)
      yield* client.get("https://api.example.com/data?x=1#frag", { headers: { authorization: "DPoP at-1" } })
      yield* client.post("https://api.example.com/data")
      const [first, second] = server.requests
      const one = yield* readProof(first!.headers["dpop"])
      const two = yield* readProof(second!.headers["dpop"])
      assert.strictEqual(one.payload["htm"], "GET")
      assert.strictEqual(one.payload["htu"], "https://api.example.com/data")
      assert.strictEqual(one.payload.iat, NOW)
      assert.strictEqual(one.payload["ath"], yield* sha256("at-1"))
      assert.strictEqual(two.payload["htm"], "POST")
      assert.isUndefined(two.payload["ath"])
      assert.notStrictEqual(one.payload.jti, two.payload.jti)
      assert.isAtLeast(String(one.payload.jti).length, 22)
      assert.deepStrictEqual(Object.keys(one.header.jwk!).sort(), ["crv", "kty", "x", "y"])
      assert.strictEqual(yield* Effect.promise(() => jose.calculateJwkThumbprint(one.header.jwk!)), dpop.thumbprint)
    }))

  it.effect("a resource's use_dpop_nonce: one more try with the nonce, and only one", () =>
    Effect.gen(function*() {
      const dpop = yield* Dpop.generate()
      const askNonce = (nonce: string): FakeHttp.Reply => ({
        status: 401,
        headers: { "www-authenticate": `DPoP error="use_dpop_nonce"`, "dpop-nonce": nonce }
      })
      const server = FakeHttp.make([askNonce("n-1"), { status: 200 }])
      const client = Dpop.withProofs(server.client, dpop)
      assert.strictEqual((yield* client.get("https://api.example.com/a")).status, 200)
      assert.isUndefined((yield* readProof(server.requests[0]!.headers["dpop"])).payload["nonce"])
      assert.strictEqual((yield* readProof(server.requests[1]!.headers["dpop"])).payload["nonce"], "n-1")

      // The nonce is remembered for the origin; a server that keeps asking gets one retry, not a loop.
      const stubborn = FakeHttp.make(() => askNonce("n-2"))
      const looping = Dpop.withProofs(stubborn.client, dpop)
      assert.strictEqual((yield* looping.get("https://api.example.com/b")).status, 401)
      assert.strictEqual(stubborn.requests.length, 2)
      assert.strictEqual((yield* readProof(stubborn.requests[0]!.headers["dpop"])).payload["nonce"], "n-1")
      // A streamed body cannot be sent twice: no retry.
      const streamed = FakeHttp.make(() => askNonce("n-4"))
      yield* Dpop.withProofs(streamed.client, dpop).execute(
        HttpClientRequest.post("https://stream.example.com/upload").pipe(
          HttpClientRequest.bodyStream(Stream.make(new Uint8Array([1, 2, 3])))
        )
      )
      assert.strictEqual(streamed.requests.length, 1)
      // Another origin has its own nonce.
      yield* looping.get("https://other.example.com/")
      assert.isUndefined((yield* readProof(stubborn.requests[2]!.headers["dpop"])).payload["nonce"])
    }))

  it.effect("the token endpoint: use_dpop_nonce retried with the nonce; other errors kept, body intact", () =>
    Effect.gen(function*() {
      const dpop = yield* Dpop.generate()
      const server = FakeHttp.make([
        FakeHttp.oauthError("use_dpop_nonce", 400, { "dpop-nonce": "n-1" }),
        FakeHttp.token({ token_type: "DPoP" }),
        FakeHttp.json({ error: "invalid_grant", error_description: "used" }, 400, { "dpop-nonce": "n-2" })
      ])
      const endpoint = yield* Endpoint.make(server, { dpop })
      const token = yield* endpoint.clientCredentials()
      assert.strictEqual(token.tokenType, "DPoP")
      assert.strictEqual(server.requests.length, 2)
      const retried = yield* readProof(server.requests[1]!.headers["dpop"])
      assert.strictEqual(retried.payload["nonce"], "n-1")
      assert.strictEqual(retried.payload["htu"], Endpoint.tokenUrl)
      assert.strictEqual(retried.payload["htm"], "POST")
      const error = yield* Effect.flip(
        endpoint.refresh(Token.make({ access_token: Redacted.make("at"), refresh_token: Redacted.make("rt") }, 0))
      )
      assert.strictEqual(error._tag, "InvalidGrant")
      assert.strictEqual(error._tag === "InvalidGrant" && error.description, "used")
      assert.strictEqual(server.requests.length, 3)
      // A large error body is not read to look for the code: no retry.
      const large = FakeHttp.make([
        FakeHttp.oauthError("use_dpop_nonce", 400, { "dpop-nonce": "n-3", "content-length": "100000" }),
        FakeHttp.token()
      ])
      const bounded = yield* Endpoint.make(large, { dpop, backoff: { maxAttempts: 1 } })
      yield* Effect.flip(bounded.clientCredentials())
      assert.strictEqual(large.requests.length, 1)
    }))

  it.scoped("AuthorizedClient sends Authorization: DPoP with a proof bound to the token", () =>
    Effect.gen(function*() {
      const dpop = yield* Dpop.generate()
      const server = FakeHttp.make([{ status: 200 }])
      const store = yield* TokenStore.makeMemory
      const endpoint = yield* Endpoint.make(FakeHttp.make([FakeHttp.token()]), { dpop })
      const manager = yield* TokenManager.make().pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      yield* manager.set(
        "alice",
        Token.make({ access_token: Redacted.make("at-dpop"), token_type: "dpop", expires_in: 3600 }, 0)
      )
      const client = AuthorizedClient.authorize(server.client, manager, {
        key: "alice",
        origin: "https://api.example.com",
        dpop
      })
      yield* client.get("https://api.example.com/me")
      const sent = server.requests[0]!
      assert.strictEqual(sent.headers["authorization"], "DPoP at-dpop")
      assert.strictEqual((yield* readProof(sent.headers["dpop"])).payload["ath"], yield* sha256("at-dpop"))
      // Without the key, the bound token is not sent at all.
      const keyless = AuthorizedClient.authorize(server.client, manager, {
        key: "alice",
        origin: "https://api.example.com"
      })
      const refused = yield* Effect.flip(keyless.get("https://api.example.com/me"))
      assert.strictEqual(refused._tag === "TransportError" && refused.reason, "Insecure")
      assert.strictEqual(server.requests.length, 1)
    }).pipe(Effect.provideService(HttpClient.HttpClient, FakeHttp.make([]).client)))

  it.effect("a provided key: a private JWK or PEM; a public or malformed key is a typed error that quotes nothing", () =>
    Effect.gen(function*() {
      const { privateKey } = yield* Effect.promise(() => jose.generateKeyPair("ES256", { extractable: true }))
      const jwk = yield* Effect.promise(() => jose.exportJWK(privateKey))
      const pem = yield* Effect.promise(() => jose.exportPKCS8(privateKey))
      const fromJwk = yield* Dpop.fromPrivateKey(Redacted.make(JSON.stringify(jwk)))
      const fromPem = yield* Dpop.fromPrivateKey(Redacted.make(pem))
      assert.strictEqual(fromJwk.thumbprint, fromPem.thumbprint)
      const { d: _d, ...publicJwk } = jwk
      for (const bad of [JSON.stringify(publicJwk), `{"d": "${jwk.d}"`, "-----BEGIN RSA PRIVATE KEY-----"]) {
        const error = yield* Effect.flip(Dpop.fromPrivateKey(Redacted.make(bad)))
        assert.strictEqual(error._tag, "InvalidDpopKey")
        assert.notInclude(error.message, jwk.d!)
        assert.notInclude(JSON.stringify(error), jwk.d!)
      }
    }))
})

describe("Dpop.fromKeyValueStore", () => {
  it.effect("generates and keeps the key, so the same key (thumbprint) comes back after a restart", () =>
    Effect.gen(function*() {
      const first = yield* Dpop.fromKeyValueStore("dpop-key")
      const second = yield* Dpop.fromKeyValueStore("dpop-key")
      assert.strictEqual(first.thumbprint, second.thumbprint)
      const other = yield* Dpop.fromKeyValueStore("another-key")
      assert.notStrictEqual(other.thumbprint, first.thumbprint)
      const store = yield* KeyValueStore.KeyValueStore
      yield* store.set("broken", "not a key")
      const error = yield* Effect.flip(Dpop.fromKeyValueStore("broken"))
      assert.strictEqual(error._tag, "InvalidDpopKey")
    }).pipe(Effect.provide(KeyValueStore.layerMemory)))
})
