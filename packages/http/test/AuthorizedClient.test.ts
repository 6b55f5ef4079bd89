import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import { TokenEndpoint } from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Array from "effect/Array"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Util from "node:util"
import {
  access,
  endpointFor,
  login,
  makeServer,
  managerFor,
  requests,
  resource as answerOf,
  type Server
} from "./utils/authorizationServer.js"

const ORIGIN = "https://api.example.com"

interface Seen {
  readonly url: string
  readonly authorization: string | undefined
}

// A resource server: `/ok` wants a token the authorization server's own resource accepts; `/slow` answers after a second,
// judging the token then; `/admin` wants a scope no token has; the rest answer as their name says.
const resourceServer = (server: Server) => {
  const seen: Array<Seen> = []
  const respond = (
    request: HttpClientRequest.HttpClientRequest,
    status: number,
    headers: Record<string, string> = {}
  ) => HttpClientResponse.fromWeb(request, new Response(status === 302 ? null : "{}", { status, headers }))
  const client = HttpClient.make((request, url) =>
    Effect.gen(function*() {
      const authorization = request.headers["authorization"]
      seen.push({ url: url.toString(), authorization })
      const accessToken = authorization?.replace(/^(Bearer|DPoP) /, "") ?? ""
      if (url.pathname === "/slow") yield* Effect.sleep("1 second")
      const accepted = (yield* answerOf(server, accessToken)).status === 200
      const unauthorized = {
        "www-authenticate": `Bearer realm="api", error="invalid_token", error_description="expired"`
      }
      switch (url.pathname) {
        case "/redirect":
          return respond(request, 302, { location: "https://evil.example/steal" })
        case "/same-origin-redirect":
          return respond(request, 302, { location: "/ok" })
        case "/always-401":
          return respond(request, 401, unauthorized)
        case "/forbidden":
          return respond(request, 403)
        case "/admin":
          return accepted
            ? respond(request, 403, {
              "www-authenticate":
                `Bearer error="insufficient_scope", scope="api:admin", error_description="admins only"`
            })
            : respond(request, 401, unauthorized)
        default:
          return accepted ? respond(request, 200) : respond(request, 401, unauthorized)
      }
    })
  )
  return { client, seen }
}

// A manager holding alice's first token from `server`.
const withAlice = (server: Server) =>
  Effect.gen(function*() {
    const { endpoint, manager, store } = yield* managerFor(server)
    const first = yield* login(server)
    yield* manager.set("alice", first)
    return {
      manager,
      /** The first access token, as sent in `Authorization`. */
      first: `Bearer ${access(first)}`,
      /** The access token stored now (after a refresh, the new one), as sent in `Authorization`. */
      current: Effect.map(store.get("alice"), (entry) => entry.pipe(Option.map((e) => `Bearer ${access(e.token)}`))),
      // The resource server stops accepting the first access token, as after a server-side revocation.
      rejectFirst: endpoint.revoke(first.accessToken, "access_token").pipe(Effect.orDie)
    }
  })

const setup = (options: { readonly origin?: string } = {}) =>
  Effect.gen(function*() {
    const server = yield* makeServer()
    const alice = yield* withAlice(server)
    const resource = resourceServer(server)
    const client = AuthorizedClient.authorize(resource.client, alice.manager, {
      key: "alice",
      origin: options.origin ?? ORIGIN
    })
    return { ...alice, client, server, seen: resource.seen }
  })

const refreshes = (server: Server) => requests(server, "refresh_token")

describe("AuthorizedClient", () => {
  it.scoped("sends the manager's token as a Bearer token", () =>
    Effect.gen(function*() {
      const { client, first, seen } = yield* setup()
      const response = yield* client.get(`${ORIGIN}/ok`)
      assert.strictEqual(response.status, 200)
      assert.deepStrictEqual(seen, [{ url: `${ORIGIN}/ok`, authorization: first }])
    }))

  it.scoped("answers the response with its request copied without the token, made once, body still readable", () =>
    Effect.gen(function*() {
      const { client, first } = yield* setup()
      const response = yield* client.get(`${ORIGIN}/ok`)
      const request = response.request
      assert.strictEqual(request.url, `${ORIGIN}/ok`)
      assert.isUndefined(request.headers["authorization"])
      assert.strictEqual(response.request, request)
      const shown = [String(response), JSON.stringify(response), Util.inspect(response, { depth: 10 })]
      for (const text of shown) {
        assert.include(text, `${ORIGIN}/ok`)
        assert.notInclude(text, first)
      }
      assert.strictEqual(HttpClientResponse.TypeId in response, true)
      assert.isObject(yield* response.json)
    }))

  it.scoped("never sends a DPoP-bound token without a DPoP key to prove it (see Dpop.test.ts for the proofs)", () =>
    Effect.gen(function*() {
      const { client, manager, seen } = yield* setup()
      yield* manager.set(
        "alice",
        Token.make({ access_token: Redacted.make("cc-dpop"), token_type: "dpop", expires_in: 60 }, 0)
      )
      const error = yield* Effect.flip(client.get(`${ORIGIN}/ok`))
      assert.strictEqual(error._tag === "TransportError" && error.reason, "Insecure")
      assert.strictEqual(seen.length, 0)
    }))

  it.scoped("applies to the URL really sent, after the wrapped client's own transformations", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const { first, manager } = yield* withAlice(server)
      const resource = resourceServer(server)
      const client = resource.client.pipe(
        HttpClient.mapRequest(HttpClientRequest.prependUrl(ORIGIN)),
        AuthorizedClient.authorize(manager, { key: "alice", origin: ORIGIN })
      )
      assert.strictEqual((yield* client.get("/ok")).status, 200)
      assert.deepStrictEqual(resource.seen, [{ url: `${ORIGIN}/ok`, authorization: first }])
    }))

  describe("401", () => {
    it.scoped("invalidates the token used, refreshes once and retries once", () =>
      Effect.gen(function*() {
        const { client, current, first, rejectFirst, seen, server } = yield* setup()
        yield* rejectFirst
        const response = yield* client.get(`${ORIGIN}/ok`)
        assert.strictEqual(response.status, 200)
        const second = Option.getOrThrow(yield* current)
        assert.notStrictEqual(second, first)
        assert.deepStrictEqual(seen.map((s) => s.authorization), [first, second])
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a second 401 fails with InvalidToken carrying the challenge", () =>
      Effect.gen(function*() {
        const { client, seen, server } = yield* setup()
        const error = yield* Effect.flip(client.get(`${ORIGIN}/always-401?secret=query`))
        assert.strictEqual(error._tag, "InvalidToken")
        const invalid = error as OAuthError.InvalidToken
        assert.deepStrictEqual(invalid.challenge, {
          realm: "api",
          error: "invalid_token",
          error_description: "expired"
        })
        assert.strictEqual(invalid.status, 401)
        assert.strictEqual(invalid.endpoint, `${ORIGIN}/always-401`)
        assert.strictEqual(seen.length, 2)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("concurrent 401s of the same token cause one refresh", () =>
      Effect.gen(function*() {
        const { client, first, rejectFirst, seen, server } = yield* setup()
        yield* rejectFirst
        // Every request leaves with the first token before any 401 comes back.
        const fiber = yield* Effect.fork(
          Effect.forEach(Array.range(1, 50), () => client.get(`${ORIGIN}/slow`), { concurrency: "unbounded" })
        )
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        const responses = yield* Fiber.join(fiber)
        assert.isTrue(responses.every((response) => response.status === 200))
        assert.strictEqual(yield* refreshes(server), 1)
        assert.strictEqual(seen.length, 100)
        assert.strictEqual(seen.filter((s) => s.authorization === first).length, 50)
      }))

    it.scoped("a 401 for a token already replaced causes no refresh", () =>
      Effect.gen(function*() {
        const { client, current, first, rejectFirst, seen, server } = yield* setup()
        // A slow request leaves with the first token ...
        const slow = yield* Effect.fork(client.get(`${ORIGIN}/slow`))
        yield* TestClock.adjust("10 millis")
        // ... which is then revoked: a fast request gets the 401 first and refreshes.
        yield* rejectFirst
        assert.strictEqual((yield* client.get(`${ORIGIN}/ok`)).status, 200)
        assert.strictEqual(yield* refreshes(server), 1)
        yield* TestClock.adjust("1 second")
        yield* TestClock.adjust("1 second")
        assert.strictEqual((yield* Fiber.join(slow)).status, 200)
        assert.strictEqual(yield* refreshes(server), 1)
        const second = Option.getOrThrow(yield* current)
        assert.notStrictEqual(second, first)
        assert.deepStrictEqual(seen.filter((s) => s.url.endsWith("/slow")).map((s) => s.authorization), [
          first,
          second
        ])
      }))

    it.scoped("a request whose body is a stream is not retried, and the error says so", () =>
      Effect.gen(function*() {
        const { client, current, first, rejectFirst, seen, server } = yield* setup()
        yield* rejectFirst
        const request = HttpClientRequest.post(`${ORIGIN}/ok`).pipe(
          HttpClientRequest.bodyStream(Stream.make(new TextEncoder().encode("{}")))
        )
        const error = yield* Effect.flip(client.execute(request))
        assert.strictEqual(error._tag, "InvalidToken")
        assert.include(error.message, "not retried: the request body is a stream")
        assert.strictEqual(seen.length, 1)
        // The token was still invalidated: the next request refreshes first.
        assert.strictEqual((yield* client.get(`${ORIGIN}/ok`)).status, 200)
        const second = Option.getOrThrow(yield* current)
        assert.notStrictEqual(second, first)
        assert.strictEqual(seen[1].authorization, second)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a dead grant surfaces as ReconnectRequired", () =>
      Effect.gen(function*() {
        const { client, server } = yield* setup()
        yield* server.revokeAll
        const error = yield* Effect.flip(client.get(`${ORIGIN}/ok`))
        assert.strictEqual(error._tag, "ReconnectRequired")
      }))
  })

  describe("403", () => {
    it.scoped("insufficient_scope fails with InsufficientScope carrying the required scope", () =>
      Effect.gen(function*() {
        const { client } = yield* setup()
        const error = yield* Effect.flip(client.get(`${ORIGIN}/admin`))
        assert.strictEqual(error._tag, "InsufficientScope")
        const insufficient = error as OAuthError.InsufficientScope
        assert.strictEqual(insufficient.scope, "api:admin")
        assert.strictEqual(insufficient.description, "admins only")
        assert.strictEqual(insufficient.status, 403)
      }))

    it.scoped("any other 403 is the caller's response", () =>
      Effect.gen(function*() {
        const { client } = yield* setup()
        assert.strictEqual((yield* client.get(`${ORIGIN}/forbidden`)).status, 403)
      }))
  })

  describe("where the token goes", () => {
    it.scoped("never to another origin", () =>
      Effect.gen(function*() {
        const { client, seen } = yield* setup()
        for (const url of ["https://evil.example/ok", "https://api.example.com:8443/ok", "http://api.example.com/ok"]) {
          const error = yield* Effect.flip(client.get(url))
          assert.strictEqual(error._tag, "TransportError")
          assert.strictEqual((error as OAuthError.TransportError).reason, "CrossOrigin")
        }
        assert.strictEqual(seen.length, 0)
      }))

    it.scoped("each request judged on its own URL, however requests to allowed and refused URLs alternate", () =>
      Effect.gen(function*() {
        const { client, seen } = yield* setup()
        for (const url of [`${ORIGIN}/ok`, "https://evil.example/ok", "https://evil.example/ok", `${ORIGIN}/ok`]) {
          const exit = yield* Effect.exit(client.get(url))
          assert.strictEqual(exit._tag === "Success", url.startsWith(ORIGIN), url)
        }
        assert.deepStrictEqual(seen.map((s) => s.url), [`${ORIGIN}/ok`, `${ORIGIN}/ok`])
      }))

    it.scoped("over plain HTTP only to loopback", () =>
      Effect.gen(function*() {
        const insecure = yield* setup({ origin: "http://api.example.com" })
        const error = yield* Effect.flip(insecure.client.get("http://api.example.com/ok"))
        assert.strictEqual(error._tag === "TransportError" && error.reason, "Insecure")
        assert.include(error.message, "plain HTTP")
        assert.strictEqual(insecure.seen.length, 0)
        const loopback = yield* setup({ origin: "http://127.0.0.1:8080" })
        assert.strictEqual((yield* loopback.client.get("http://127.0.0.1:8080/ok")).status, 200)
        assert.strictEqual(loopback.seen[0].authorization, loopback.first)
      }))

    it.scoped("redirects are handed back, and a followed hop to another origin is refused", () =>
      Effect.gen(function*() {
        const { client, first, seen } = yield* setup()
        const response = yield* client.get(`${ORIGIN}/redirect`)
        assert.strictEqual(response.status, 302)
        const following = client.pipe(HttpClient.followRedirects(5))
        const error = yield* Effect.flip(following.get(`${ORIGIN}/redirect`))
        assert.strictEqual(error._tag, "TransportError")
        assert.isTrue(seen.every((s) => s.url.startsWith(ORIGIN)))
        // A same-origin hop is followed with the token.
        assert.strictEqual((yield* following.get(`${ORIGIN}/same-origin-redirect`)).status, 200)
        assert.deepStrictEqual(seen.slice(-1), [{ url: `${ORIGIN}/ok`, authorization: first }])
      }))

    it.scoped("tells the fetch client not to follow redirects", () =>
      Effect.gen(function*() {
        const { manager } = yield* withAlice(yield* makeServer())
        const inits: Array<RequestInit | undefined> = []
        const fetch: typeof globalThis.fetch = (_input, init) => {
          inits.push(init)
          return Promise.resolve(new Response("{}", { status: 200 }))
        }
        const client = yield* AuthorizedClient.make({ key: "alice", origin: ORIGIN }).pipe(
          Effect.provide(Layer.merge(FetchHttpClient.layer, Layer.succeed(TokenManager.TokenManager, manager)))
        )
        yield* client.get(`${ORIGIN}/ok`).pipe(
          Effect.provideService(FetchHttpClient.Fetch, fetch),
          Effect.provideService(FetchHttpClient.RequestInit, { keepalive: true })
        )
        assert.strictEqual(inits[0]?.redirect, "manual")
        assert.strictEqual(inits[0]?.keepalive, true)
      }))

    it.scoped("prepares its settings once per fiber state, not per request, and gives the fiber its own back", () =>
      Effect.gen(function*() {
        const { manager } = yield* withAlice(yield* makeServer())
        // What the wire client runs under: the context (which carries fetch's options) and the
        // header names its spans redact.
        const wire: Array<{ readonly context: Context.Context<never>; readonly names: ReadonlyArray<unknown> }> = []
        const inner = HttpClient.make((request, _url, _signal, fiber) => {
          wire.push({
            context: fiber.getFiberRef(FiberRef.currentContext),
            names: fiber.getFiberRef(Headers.currentRedactedNames)
          })
          return Effect.succeed(HttpClientResponse.fromWeb(request, new Response("{}", { status: 200 })))
        })
        const client = AuthorizedClient.authorize(inner, manager, { key: "alice", origin: ORIGIN })
        const context = yield* FiberRef.get(FiberRef.currentContext)
        const names = yield* FiberRef.get(Headers.currentRedactedNames)
        for (let i = 0; i < 3; i++) {
          yield* client.get(`${ORIGIN}/ok`)
          assert.strictEqual(yield* FiberRef.get(FiberRef.currentContext), context)
          assert.strictEqual(yield* FiberRef.get(Headers.currentRedactedNames), names)
        }
        // The same prepared settings each time: nothing was copied or rebuilt for the later requests.
        assert.strictEqual(wire[1].context, wire[0].context)
        assert.strictEqual(wire[2].context, wire[0].context)
        assert.strictEqual(wire[2].names, wire[0].names)
        assert.notStrictEqual(wire[0].context, context)
        assert.deepStrictEqual(
          Context.getOption(wire[0].context, FetchHttpClient.RequestInit),
          Option.some<RequestInit>({ redirect: "manual" })
        )
        assert.isTrue(wire[0].names.length > names.length)
        // A caller whose fiber changed gets settings prepared afresh, its own fetch options kept.
        yield* client.get(`${ORIGIN}/ok`).pipe(Effect.provideService(FetchHttpClient.RequestInit, { keepalive: true }))
        assert.notStrictEqual(wire[3].context, wire[0].context)
        assert.deepStrictEqual(
          Context.getOption(wire[3].context, FetchHttpClient.RequestInit),
          Option.some<RequestInit>({ keepalive: true, redirect: "manual" })
        )
        assert.strictEqual(yield* FiberRef.get(FiberRef.currentContext), context)
      }))

    it.scoped("keeps a change the wrapped client makes to the fiber, and undoes only the settings", () =>
      Effect.gen(function*() {
        const { manager } = yield* withAlice(yield* makeServer())
        const mark = FiberRef.unsafeMake("unset")
        const inner = HttpClient.make((request) =>
          Effect.as(
            FiberRef.set(mark, "set by the wire client"),
            HttpClientResponse.fromWeb(request, new Response("{}", { status: 200 }))
          )
        )
        const client = AuthorizedClient.authorize(inner, manager, { key: "alice", origin: ORIGIN })
        const names = yield* FiberRef.get(Headers.currentRedactedNames)
        const disabledWhen = yield* FiberRef.get(HttpClient.currentTracerDisabledWhen)
        for (let i = 0; i < 2; i++) {
          yield* FiberRef.set(mark, "unset")
          yield* client.get(`${ORIGIN}/ok`)
          assert.strictEqual(yield* FiberRef.get(mark), "set by the wire client")
          assert.strictEqual(yield* FiberRef.get(Headers.currentRedactedNames), names)
          assert.strictEqual(yield* FiberRef.get(HttpClient.currentTracerDisabledWhen), disabledWhen)
          assert.isTrue(Option.isNone(yield* Effect.serviceOption(FetchHttpClient.RequestInit)))
        }
      }))
  })

  it.scoped("layer: an AuthorizedClient service over HttpClient and TokenManager", () =>
    Effect.gen(function*() {
      const server = yield* makeServer()
      const resource = resourceServer(server)
      const managerLayer = TokenManager.layer().pipe(
        Layer.provide(TokenStore.layerMemory),
        Layer.provide(Layer.effect(TokenEndpoint, endpointFor(server)))
      )
      const layer = AuthorizedClient.layer({ key: "alice", origin: ORIGIN }).pipe(
        Layer.provideMerge(managerLayer),
        Layer.provide(Layer.succeed(HttpClient.HttpClient, resource.client))
      )
      const first = yield* login(server)
      const status = yield* Effect.gen(function*() {
        const manager = yield* TokenManager.TokenManager
        yield* manager.set("alice", first)
        const client = yield* AuthorizedClient.AuthorizedClient
        return (yield* client.get(`${ORIGIN}/ok`)).status
      }).pipe(Effect.provide(layer))
      assert.strictEqual(status, 200)
      assert.strictEqual(resource.seen[0].authorization, `Bearer ${access(first)}`)
    }))
})
