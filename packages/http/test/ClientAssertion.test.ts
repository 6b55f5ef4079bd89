import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as ClientAssertion from "@tokenfx/http/ClientAssertion"
import * as ClientAuthentication from "@tokenfx/http/ClientAuthentication"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

const NOW = 1_800_000_000

const keyPair = Effect.promise(async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true })
  return {
    publicKey,
    jwk: { ...(await jose.exportJWK(privateKey)), kid: "client-key-1" },
    pem: await jose.exportPKCS8(privateKey)
  }
})

const assertionOf = (request: FakeHttp.Recorded) => {
  assert.strictEqual(request.form.get("client_assertion_type"), ClientAssertion.assertionType)
  assert.strictEqual(request.form.get("client_id"), Endpoint.clientId)
  assert.isNull(request.form.get("client_secret"))
  assert.isUndefined(request.headers["authorization"])
  return request.form.get("client_assertion")!
}

describe("ClientAssertion", () => {
  it.effect("private_key_jwt: iss = sub = client_id, aud = the token endpoint, iat from Clock, 60 s, a fresh jti each attempt", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const { jwk, publicKey } = yield* keyPair
      const server = FakeHttp.make([{ status: 503 }, FakeHttp.token()])
      const endpoint = yield* Endpoint.make(server, {
        clientSecret: undefined,
        clientPrivateKey: Redacted.make(JSON.stringify(jwk))
      })
      const fiber = yield* Effect.fork(endpoint.clientCredentials())
      // Signing is asynchronous (WebCrypto), so each attempt takes real time: the clock moves in small
      // steps, with the event loop let through between them, until the retry is done. One jump of a
      // minute could land while the first attempt is in flight and spend the whole retry budget.
      let exit = yield* Fiber.poll(fiber)
      for (let step = 0; step < 600 && Option.isNone(exit); step++) {
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
        yield* TestClock.adjust("100 millis")
        exit = yield* Fiber.poll(fiber)
      }
      yield* Fiber.join(fiber)
      assert.strictEqual(
        (yield* Effect.promise(() => jose.jwtVerify(assertionOf(server.requests[0]!), publicKey))).payload.iat,
        NOW
      )
      const jtis = new Set<unknown>()
      for (const request of server.requests) {
        const { payload, protectedHeader } = yield* Effect.promise(() =>
          // At the signing instant: under TestClock the request may leave later than that.
          jose.jwtVerify(assertionOf(request), publicKey, { currentDate: new Date(NOW * 1000) })
        )
        assert.strictEqual(protectedHeader.alg, "ES256")
        assert.strictEqual(protectedHeader.kid, "client-key-1")
        assert.strictEqual(payload.iss, Endpoint.clientId)
        assert.strictEqual(payload.sub, Endpoint.clientId)
        assert.strictEqual(payload.aud, Endpoint.tokenUrl)
        // Read from Clock when signed, before the request left (signing is asynchronous WebCrypto).
        assert.isAtLeast(payload.iat!, NOW)
        assert.isAtMost(payload.iat!, Math.floor(request.at / 1000))
        assert.strictEqual(payload.exp, payload.iat! + 60)
        jtis.add(payload.jti)
      }
      assert.strictEqual(server.requests.length, 2)
      assert.strictEqual(jtis.size, 2)
    }))

  it.effect("revocation and introspection authenticate the same way; the audience can be set", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const { pem, publicKey } = yield* keyPair
      const server = FakeHttp.make([{ status: 200 }, FakeHttp.json({ active: false })])
      const endpoint = yield* Endpoint.make(server, {
        clientSecret: undefined,
        clientPrivateKey: Redacted.make(pem),
        clientAssertion: { audience: Endpoint.issuer }
      })
      yield* endpoint.revoke(Redacted.make("at-1"))
      yield* endpoint.introspect(Redacted.make("at-1"))
      for (const request of server.requests) {
        const { payload } = yield* Effect.promise(() =>
          jose.jwtVerify(assertionOf(request), publicKey, { currentDate: new Date(request.at) })
        )
        assert.strictEqual(payload.aud, Endpoint.issuer)
      }
    }))

  it.effect("client_secret_jwt: HS256 with the client secret, which is never sent", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const server = FakeHttp.make([FakeHttp.token()])
      const endpoint = yield* Endpoint.make(server, { clientAuthentication: "client_secret_jwt" })
      yield* endpoint.clientCredentials()
      const request = server.requests[0]!
      assert.notInclude(request.body, encodeURIComponent(Endpoint.secretText))
      const { payload, protectedHeader } = yield* Effect.promise(() =>
        jose.jwtVerify(assertionOf(request), new TextEncoder().encode(Endpoint.secretText), {
          currentDate: new Date(request.at)
        })
      )
      assert.strictEqual(protectedHeader.alg, "HS256")
      assert.strictEqual(payload.sub, Endpoint.clientId)
    }))

  it.effect("a key that cannot sign fails each request with InvalidClient, quoting none of the key", () =>
    Effect.gen(function*() {
      const { jwk } = yield* keyPair
      const { d, ...publicJwk } = jwk
      const server = FakeHttp.make([FakeHttp.token()])
      for (
        const bad of [
          JSON.stringify(publicJwk),
          `{"kty":"EC","d":"${d}"`,
          `-----BEGIN PRIVATE KEY-----\n${d}\n-----END PRIVATE KEY-----`,
          JSON.stringify({ kty: "oct", k: d })
        ]
      ) {
        const endpoint = yield* Endpoint.make(server, { clientSecret: undefined, clientPrivateKey: Redacted.make(bad) })
        const error = yield* Effect.flip(endpoint.clientCredentials())
        assert.strictEqual(error._tag, "InvalidClient")
        assert.notInclude(error.message, d!)
        assert.notInclude(JSON.stringify(error), d!)
      }
      assert.strictEqual(server.requests.length, 0)
    }))

  it.effect("the key read with Config.redacted, as PEM with its line breaks", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(NOW * 1000)
      const { pem, publicKey } = yield* keyPair
      const server = FakeHttp.make([FakeHttp.token()])
      const endpoint = yield* TokenEndpoint.TokenEndpoint.pipe(
        Effect.provide(
          TokenEndpoint.layerConfig({
            tokenEndpoint: Config.string("TOKEN_ENDPOINT"),
            clientId: Config.string("CLIENT_ID"),
            clientPrivateKey: Config.redacted("CLIENT_KEY")
          })
        ),
        Effect.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["TOKEN_ENDPOINT", Endpoint.tokenUrl], ["CLIENT_ID", Endpoint.clientId], ["CLIENT_KEY", pem]])
        ))),
        Effect.provideService(HttpClient.HttpClient, server.client)
      )
      yield* endpoint.clientCredentials()
      const request = server.requests[0]!
      yield* Effect.promise(() =>
        jose.jwtVerify(assertionOf(request), publicKey, { currentDate: new Date(request.at) })
      )
    }))

  it("a private key chooses private_key_jwt unless told otherwise", () => {
    const key = Redacted.make("{}")
    assert.strictEqual(ClientAuthentication.make({ clientId: "c", privateKey: key }).method, "private_key_jwt")
    assert.strictEqual(
      ClientAuthentication.make({ clientId: "c", privateKey: key, clientSecret: key, method: "client_secret_post" })
        .method,
      "client_secret_post"
    )
    assert.strictEqual(ClientAuthentication.make({ clientId: "c", method: "private_key_jwt" }).method, "none")
  })
})
