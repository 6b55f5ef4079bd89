import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Dpop from "@tokenfx/http/Dpop"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
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

describe("Dpop.withProofs reads at most 16 KiB of a 400 to look for use_dpop_nonce", () => {
  const KiB = 1024
  // A chunked body (no Content-Length): `content` in `size`-byte chunks; a number is that many spaces,
  // `undefined` spaces without end.
  const chunked = (content: string | number | undefined, size = 64 * KiB) => {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : undefined
    const total = typeof content === "string" ? bytes!.length : content ?? Infinity
    const stats = { pulled: 0, cancelled: false }
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (stats.pulled >= total) return controller.close()
        const chunk = bytes?.subarray(stats.pulled, stats.pulled + size) ?? new Uint8Array(size).fill(0x20)
        stats.pulled += chunk.length
        controller.enqueue(chunk)
      },
      cancel() {
        stats.cancelled = true
      }
    })
    return { body, stats }
  }
  // Answers with each response in turn (the last repeated); counts the requests.
  const serving = (...responses: ReadonlyArray<() => Response>) => {
    let requests = 0
    const client = HttpClient.make((request) =>
      Effect.sync(() => HttpClientResponse.fromWeb(request, responses[Math.min(requests++, responses.length - 1)]!()))
    )
    return { client, requests: () => requests }
  }
  const asServer = (client: HttpClient.HttpClient): FakeHttp.FakeServer => ({ ...FakeHttp.make([]), client })
  const nonce400 = (body: ReadableStream<Uint8Array>) => () =>
    new Response(body, { status: 400, headers: { "dpop-nonce": "n-1", "content-type": "application/json" } })
  const tokenReply = () => new Response(JSON.stringify({ access_token: "at-1", token_type: "DPoP" }), { status: 200 })
  // `{"error":"use_dpop_nonce"}` padded with spaces (still JSON) to `length` bytes.
  const useNonce = (length: number) => `{"error":"use_dpop_nonce"}`.padEnd(length, " ")

  it.effect("a 32 MiB chunked body is not buffered: the endpoint's cap applies, typed", () =>
    Effect.gen(function*() {
      const { body, stats } = chunked(32 * KiB * KiB)
      const dpop = yield* Dpop.generate()
      const server = serving(nonce400(body))
      const endpoint = yield* Endpoint.make(asServer(server.client), {
        dpop,
        backoff: { maxAttempts: 1 },
        maxBodySize: KiB * KiB
      })
      const error = yield* Effect.flip(endpoint.clientCredentials())
      assert.strictEqual(error._tag, "InvalidRequest")
      assert.isAtMost(stats.pulled, 2 * KiB * KiB, `pulled ${stats.pulled} bytes`)
      assert.strictEqual(server.requests(), 1)
    }))

  it.effect("a body that never ends: not retried, handed on, its first bytes still readable, cancelled by the reader", () =>
    Effect.gen(function*() {
      const { body, stats } = chunked(undefined)
      const dpop = yield* Dpop.generate()
      const server = serving(nonce400(body))
      const response = yield* Dpop.withProofs(server.client, dpop).post("https://auth.example.com/token")
      assert.strictEqual(response.status, 400)
      assert.isAtMost(stats.pulled, 16 * KiB + 3 * 64 * KiB, `pulled ${stats.pulled} bytes`)
      // The chunk sniffed is replayed, then the rest follows; a reader that stops cancels the source.
      const first = yield* Stream.runCollect(Stream.take(response.stream, 2))
      assert.strictEqual([...first].reduce((n, chunk) => n + chunk.length, 0), 128 * KiB)
      assert.isTrue(stats.cancelled)
      assert.strictEqual(server.requests(), 1)
    }))

  it.effect("exactly 16 KiB is read and retried; one byte more is not retried, and the caller reads all of it", () =>
    Effect.gen(function*() {
      const dpop = yield* Dpop.generate()
      const exact = serving(nonce400(chunked(useNonce(16 * KiB), 1000).body), tokenReply)
      const endpoint = yield* Endpoint.make(asServer(exact.client), { dpop, backoff: { maxAttempts: 1 } })
      assert.strictEqual((yield* endpoint.clientCredentials()).tokenType, "DPoP")
      assert.strictEqual(exact.requests(), 2)

      const over = serving(nonce400(chunked(useNonce(16 * KiB + 1), 1000).body), tokenReply)
      const refused = yield* Endpoint.make(asServer(over.client), { dpop, backoff: { maxAttempts: 1 } })
      const outcome = yield* Effect.either(refused.clientCredentials())
      assert.strictEqual(over.requests(), 1, "retried after reading past 16 KiB")
      // Not cut at 16 KiB: the endpoint parsed the whole body and found the code.
      const code = Either.isLeft(outcome) && outcome.left._tag === "UnknownOAuthError" && outcome.left.code
      assert.strictEqual(code, "use_dpop_nonce")

      const description = "d".repeat(40 * KiB)
      const grant = serving(
        nonce400(chunked(JSON.stringify({ error: "invalid_grant", error_description: description })).body)
      )
      const dead = yield* Endpoint.make(asServer(grant.client), { dpop, backoff: { maxAttempts: 1 } })
      const failed = yield* Effect.flip(
        dead.refresh(Token.make({ access_token: Redacted.make("at"), refresh_token: Redacted.make("rt") }, 0))
      )
      assert.strictEqual(failed._tag, "InvalidGrant")

      // No body at all reads as an empty one: mapped by its status, as before.
      const empty = serving(() => new Response(null, { status: 400, headers: { "dpop-nonce": "n-1" } }))
      const none = yield* Endpoint.make(asServer(empty.client), { dpop, backoff: { maxAttempts: 1 } })
      assert.strictEqual((yield* Effect.flip(none.clientCredentials()))._tag, "InvalidRequest")
    }))

  it.effect("a body that stalls: the endpoint's timeout ends the wait and cancels the body", () =>
    Effect.gen(function*() {
      const signal = () => {
        let resolve: () => void = () => undefined
        return { promise: new Promise<void>((r) => resolve = r), resolve: () => resolve() }
      }
      const answered = signal()
      const cancelled = signal()
      const dpop = yield* Dpop.generate()
      const server = serving(() => {
        answered.resolve()
        const stalled = new ReadableStream<Uint8Array>({
          pull: () => new Promise(() => undefined),
          cancel: cancelled.resolve
        })
        return nonce400(stalled)()
      })
      const endpoint = yield* Endpoint.make(asServer(server.client), {
        dpop,
        backoff: { maxAttempts: 1 },
        timeout: "5 seconds"
      })
      const fiber = yield* Effect.fork(Effect.flip(endpoint.clientCredentials()))
      // The proof is signed with WebCrypto (a real promise): move the clock once the request is out.
      yield* Effect.promise(() => answered.promise)
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag === "TransportError" && error.reason, "Timeout")
      // Resolves only when the source is cancelled; a leak would leave it pending and the test would time out.
      yield* Effect.promise(() => cancelled.promise)
    }))

  it.scoped("AuthorizedClient: a resource's 401s are decided on their headers, bodies unread; a 400's is handed on", () =>
    Effect.gen(function*() {
      const dpop = yield* Dpop.generate()
      const bodies = [chunked(32 * KiB * KiB), chunked(32 * KiB * KiB), chunked(32 * KiB * KiB)]
      const resource = serving(
        () =>
          new Response(bodies[0]!.body, {
            status: 401,
            headers: { "dpop-nonce": "n-1", "www-authenticate": `DPoP error="use_dpop_nonce"` }
          }),
        () =>
          new Response(bodies[1]!.body, {
            status: 401,
            headers: { "dpop-nonce": "n-2", "www-authenticate": `DPoP error="invalid_token"` }
          }),
        nonce400(bodies[2]!.body)
      )
      const store = yield* TokenStore.makeMemory
      const endpoint = yield* Endpoint.make(
        FakeHttp.make([FakeHttp.token({ token_type: "DPoP", refresh_token: "rt-2" })]),
        { dpop }
      )
      const manager = yield* TokenManager.make().pipe(
        Effect.provideService(TokenStore.TokenStore, store),
        Effect.provideService(TokenEndpoint.TokenEndpoint, endpoint)
      )
      yield* manager.set(
        "alice",
        Token.make({
          access_token: Redacted.make("at-1"),
          refresh_token: Redacted.make("rt-1"),
          token_type: "dpop",
          expires_in: 3600
        }, 0)
      )
      const client = AuthorizedClient.authorize(resource.client, manager, {
        key: "alice",
        origin: "https://api.example.com",
        dpop
      })
      // use_dpop_nonce: retried with the nonce; invalid_token: refreshed and retried; then the 400.
      const response = yield* client.get("https://api.example.com/me")
      assert.strictEqual(response.status, 400)
      assert.strictEqual(resource.requests(), 3)
      const pulled = bodies.map((b) => b.stats.pulled)
      assert.isAtMost(pulled[0]! + pulled[1]!, 2 * 64 * KiB, `pulled ${pulled}`)
      assert.isAtMost(pulled[2]!, 16 * KiB + 3 * 64 * KiB, `pulled ${pulled}`)
    }).pipe(Effect.provideService(HttpClient.HttpClient, FakeHttp.make([]).client)))
})
