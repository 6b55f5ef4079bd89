import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import * as Http from "node:http"
import {
  access,
  login,
  makeServer,
  managerFor,
  requests,
  resource as answerOf,
  reusedRefreshTokens,
  type Server
} from "./utils/authorizationServer.js"
import { listen } from "./utils/listen.js"

const ORIGIN = "https://api.example.com"

// Counts the fibers started under it: the proof that a cached token is answered without one.
class FiberCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart(): void {
    this.started += 1
  }
}

// A manager over a new in-memory authorization server (60-second access tokens), and its Promise facade.
const setup = () =>
  Effect.gen(function*() {
    const { endpoint, manager, server, store } = yield* managerFor(yield* makeServer())
    const counter = new FiberCounter()
    const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
      Effect.provideService(TokenManager.TokenManager, manager),
      Effect.supervised(counter)
    )
    const tokens = TokenManagerPromise.fromRuntime(runtime)
    return { endpoint, manager, server, store, counter, runtime, tokens }
  })

const refreshes = (server: Server) => requests(server, "refresh_token")

// What a Promise rejected with, as a value.
const rejection = <A>(promise: () => Promise<A>) =>
  Effect.flip(Effect.tryPromise({ try: promise, catch: (error) => error }))

interface Sent {
  readonly url: string
  readonly authorization: string | null
  readonly redirect: RequestRedirect | undefined
  readonly body: unknown
}

// A resource behind a fake `fetch`: `/ok` wants a token the authorization server's resource accepts
// (judged on the test's clock), `/always-401` rejects every token, `/echo-401` quotes the token back, `/admin` wants a
// scope, `/redirect` points elsewhere, `/down` cannot be reached.
const resource = (server: Server, runtime: Runtime.Runtime<never>) => {
  const sent: Array<Sent> = []
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input)
    const headers = new Headers(init?.headers)
    const authorization = headers.get("authorization")
    sent.push({ url: url.toString(), authorization, redirect: init?.redirect, body: init?.body })
    if (url.pathname === "/down") throw new TypeError("fetch failed")
    const accessToken = authorization?.replace(/^Bearer /, "") ?? ""
    const accepted = (await Runtime.runPromise(runtime)(answerOf(server, accessToken))).status === 200
    const challenge = `Bearer realm="api", error="invalid_token", error_description="expired"`
    switch (url.pathname) {
      case "/always-401":
        return new Response(null, { status: 401, headers: { "www-authenticate": challenge } })
      case "/echo-401":
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": `Bearer error="invalid_token", error_description="bad ${accessToken}"` }
        })
      case "/admin":
        return new Response(null, {
          status: 403,
          headers: { "www-authenticate": `Bearer error="insufficient_scope", scope="api:admin"` }
        })
      case "/redirect":
        return new Response(null, { status: 302, headers: { location: "https://evil.example/steal" } })
      default:
        return accepted
          ? new Response("{}", { status: 200 })
          : new Response(null, { status: 401, headers: { "www-authenticate": challenge } })
    }
  }
  return { sent, fetch }
}

describe("TokenManagerPromise", () => {
  describe("getToken", () => {
    it.scoped("answers a fresh token without starting a fiber, and enters the runtime only to refresh", () =>
      Effect.gen(function*() {
        const { counter, manager, server, tokens } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const before = counter.started
        for (let i = 0; i < 100; i++) {
          assert.strictEqual(access(yield* Effect.promise(() => tokens.getToken("alice"))), access(first))
        }
        assert.strictEqual(counter.started, before)
        // Inside the refresh window: one fiber, one refresh.
        yield* TestClock.adjust("55 seconds")
        const second = access(yield* Effect.promise(() => tokens.getToken("alice")))
        assert.notStrictEqual(second, access(first))
        assert.isAbove(counter.started, before)
        assert.strictEqual(yield* refreshes(server), 1)
        const after = counter.started
        assert.strictEqual(access(yield* Effect.promise(() => tokens.getToken("alice"))), second)
        assert.strictEqual(counter.started, after)
      }))

    it.scoped("a herd of Promise callers at expiry shares one refresh", () =>
      Effect.gen(function*() {
        const { manager, server, store, tokens } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        yield* TestClock.adjust("55 seconds")
        const all = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 500 }, () => tokens.getToken("alice")))
        )
        const stored = access(Option.getOrThrow(yield* store.get("alice")).token)
        assert.notStrictEqual(stored, access(first))
        assert.deepStrictEqual(new Set(all.map(access)), new Set([stored]))
        assert.strictEqual(yield* refreshes(server), 1)
        assert.strictEqual(yield* reusedRefreshTokens(server), 0)
      }))

    it.scoped("never answers a token rejected by a 401 from the fast path", () =>
      Effect.gen(function*() {
        const { counter, manager, server, tokens } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        assert.isTrue(yield* Effect.promise(() => tokens.invalidate("alice", first)))
        const before = counter.started
        assert.notStrictEqual(access(yield* Effect.promise(() => tokens.getToken("alice"))), access(first))
        assert.isAbove(counter.started, before)
      }))

    it.scoped("rejects with the typed error itself: an Error carrying its tag", () =>
      Effect.gen(function*() {
        const { manager, server, tokens } = yield* setup()
        yield* manager.set("alice", yield* login(server))
        yield* server.revokeAll
        yield* TestClock.adjust("55 seconds")
        const error = yield* rejection(() => tokens.getToken("alice"))
        assert.instanceOf(error, Error)
        assert.instanceOf(error, OAuthError.ReconnectRequired)
        assert.strictEqual((error as OAuthError.ReconnectRequired)._tag, "ReconnectRequired")
        assert.strictEqual((error as OAuthError.ReconnectRequired).key, "alice")
      }))

    it.scoped("a key with no token rejects with ReconnectRequired", () =>
      Effect.gen(function*() {
        const { tokens } = yield* setup()
        const error = yield* rejection(() => tokens.getToken("nobody"))
        assert.strictEqual((error as OAuthError.OAuthError)._tag, "ReconnectRequired")
      }))

    it.scoped("a manager made by hand (no fast path) is served through the runtime", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        let gets = 0
        const wrapped = TokenManager.TokenManager.of({
          ...manager,
          get: (key) => Effect.suspend(() => (gets += 1, manager.get(key)))
        })
        const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
          Effect.provideService(TokenManager.TokenManager, wrapped)
        )
        const tokens = TokenManagerPromise.fromRuntime(runtime)
        assert.strictEqual(access(yield* Effect.promise(() => tokens.getToken("alice"))), access(first))
        assert.strictEqual(gets, 1)
      }))

    it.scoped("make captures the current runtime", () =>
      Effect.gen(function*() {
        const { manager, server } = yield* setup()
        const first = yield* login(server)
        yield* manager.set("alice", first)
        const tokens = yield* TokenManagerPromise.make.pipe(Effect.provideService(TokenManager.TokenManager, manager))
        assert.strictEqual(access(yield* Effect.promise(() => tokens.getToken("alice"))), access(first))
      }))
  })

  describe("authorizedFetch", () => {
    const fetchSetup = Effect.gen(function*() {
      const env = yield* setup()
      const first = yield* login(env.server)
      yield* env.manager.set("alice", first)
      const api = resource(env.server, env.runtime as Runtime.Runtime<never>)
      const fetch = env.tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch: api.fetch })
      // The resource server stops accepting the first access token, as after a server-side revocation.
      const rejectFirst = env.endpoint.revoke(first.accessToken, "access_token").pipe(Effect.orDie)
      return { ...env, api, fetch, first: access(first), rejectFirst }
    })

    it.scoped("sends the bearer token, replaces the caller's, and asks for manual redirects", () =>
      Effect.gen(function*() {
        const { api, fetch, first } = yield* fetchSetup
        const response = yield* Effect.promise(() =>
          fetch(`${ORIGIN}/ok`, { headers: { Authorization: "Bearer forged", accept: "application/json" } })
        )
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(api.sent.map((s) => [s.authorization, s.redirect]), [[`Bearer ${first}`, "manual"]])
        const redirect = yield* Effect.promise(() => fetch(new URL(`${ORIGIN}/redirect`)))
        assert.strictEqual(redirect.status, 302)
        assert.strictEqual(api.sent.length, 2)
      }))

    it.scoped("keeps Headers and Request inputs, token set", () =>
      Effect.gen(function*() {
        const { api, fetch, first } = yield* fetchSetup
        yield* Effect.promise(() => fetch(new Request(`${ORIGIN}/ok`), { headers: new Headers({ "x-a": "1" }) }))
        assert.strictEqual(api.sent[0]?.authorization, `Bearer ${first}`)
      }))

    it.scoped("after a 401: one refresh and one retry with the new token", () =>
      Effect.gen(function*() {
        const { api, fetch, first, rejectFirst, server, store } = yield* fetchSetup
        yield* rejectFirst
        const response = yield* Effect.promise(() => fetch(`${ORIGIN}/ok`, { method: "POST", body: "{}" }))
        assert.strictEqual(response.status, 200)
        const second = access(Option.getOrThrow(yield* store.get("alice")).token)
        assert.notStrictEqual(second, first)
        assert.deepStrictEqual(api.sent.map((s) => s.authorization), [`Bearer ${first}`, `Bearer ${second}`])
        assert.deepStrictEqual(api.sent.map((s) => s.body), ["{}", "{}"])
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a 401 again after the refresh is InvalidToken, and the next 401 is not retried", () =>
      Effect.gen(function*() {
        const { api, fetch, server } = yield* fetchSetup
        const error = yield* rejection(() => fetch(`${ORIGIN}/always-401`))
        assert.instanceOf(error, OAuthError.InvalidToken)
        assert.strictEqual((error as OAuthError.InvalidToken).description, "expired")
        assert.strictEqual(api.sent.length, 2)
        const again = yield* rejection(() => fetch(`${ORIGIN}/always-401`))
        assert.strictEqual((again as OAuthError.InvalidToken)._tag, "InvalidToken")
        assert.include((again as OAuthError.InvalidToken).description, "not retried")
        assert.strictEqual(api.sent.length, 3)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a streamed body is not sent twice", () =>
      Effect.gen(function*() {
        const { api, fetch, rejectFirst } = yield* fetchSetup
        yield* rejectFirst
        const body = new ReadableStream({
          start: (controller) => {
            controller.enqueue(new TextEncoder().encode("{}"))
            controller.close()
          }
        })
        const error = yield* rejection(() =>
          fetch(`${ORIGIN}/ok`, { method: "POST", body, duplex: "half" } as RequestInit)
        )
        assert.strictEqual((error as OAuthError.InvalidToken)._tag, "InvalidToken")
        assert.include((error as OAuthError.InvalidToken).description, "stream")
        assert.strictEqual(api.sent.length, 1)
      }))

    it.scoped("a token echoed by the resource never reaches the error", () =>
      Effect.gen(function*() {
        const { fetch, first, store } = yield* fetchSetup
        const error = (yield* rejection(() => fetch(`${ORIGIN}/echo-401`))) as OAuthError.InvalidToken
        assert.strictEqual(error._tag, "InvalidToken")
        const second = access(Option.getOrThrow(yield* store.get("alice")).token)
        for (const token of [first, second]) {
          assert.notInclude(JSON.stringify(error), token)
          assert.notInclude(error.message, token)
        }
      }))

    it.scoped("a 403 naming insufficient_scope is InsufficientScope", () =>
      Effect.gen(function*() {
        const { fetch } = yield* fetchSetup
        const error = yield* rejection(() => fetch(`${ORIGIN}/admin`))
        assert.instanceOf(error, OAuthError.InsufficientScope)
        assert.strictEqual((error as OAuthError.InsufficientScope).scope, "api:admin")
      }))

    it.scoped("refuses another origin and plain HTTP before asking for a token or sending anything", () =>
      Effect.gen(function*() {
        const { api, counter, tokens } = yield* fetchSetup
        const fetch = tokens.authorizedFetch({ key: "nobody", origin: ORIGIN, fetch: api.fetch })
        const before = counter.started
        // Another origin (a scheme change included) and a URL with no origin at all: CrossOrigin.
        for (const url of ["https://evil.example/ok", "http://api.example.com/ok", "/ok", "not a url"]) {
          const error = yield* rejection(() => fetch(url))
          assert.strictEqual((error as OAuthError.TransportError)._tag, "TransportError", url)
          assert.strictEqual((error as OAuthError.TransportError).reason, "CrossOrigin", url)
        }
        const insecure = tokens.authorizedFetch({ key: "alice", origin: "http://api.example.com", fetch: api.fetch })
        const error = yield* rejection(() => insecure("http://api.example.com/ok"))
        assert.strictEqual((error as OAuthError.TransportError).reason, "Insecure")
        assert.strictEqual(api.sent.length, 0)
        assert.strictEqual(counter.started, before)
      }))

    it.scoped("the verdict on a URL let through is never reused for another, nor for a URL object changed in place", () =>
      Effect.gen(function*() {
        const { api, fetch } = yield* fetchSetup
        assert.strictEqual((yield* Effect.promise(() => fetch(`${ORIGIN}/ok`))).status, 200)
        assert.strictEqual((yield* Effect.promise(() => fetch(`${ORIGIN}/ok`))).status, 200)
        const crossOrigin = yield* rejection(() => fetch("https://evil.example/ok"))
        assert.strictEqual((crossOrigin as OAuthError.TransportError).reason, "CrossOrigin")
        const target = new URL(`${ORIGIN}/ok`)
        assert.strictEqual((yield* Effect.promise(() => fetch(target))).status, 200)
        target.host = "evil.example"
        const changed = yield* rejection(() => fetch(target))
        assert.strictEqual((changed as OAuthError.TransportError).reason, "CrossOrigin")
        // And the text let through before is let through again.
        assert.strictEqual((yield* Effect.promise(() => fetch(`${ORIGIN}/ok`))).status, 200)
        assert.deepStrictEqual(api.sent.map((sent) => new URL(sent.url).host), Array(4).fill("api.example.com"))
      }))

    it.scoped("a DPoP-bound token is never sent without its proof", () =>
      Effect.gen(function*() {
        const { api, manager, tokens } = yield* fetchSetup
        yield* manager.set(
          "dpop",
          Token.make({ access_token: Redacted.make("at-dpop-bound"), token_type: "DPoP", expires_in: 60 }, 0)
        )
        const fetch = tokens.authorizedFetch({ key: "dpop", origin: ORIGIN, fetch: api.fetch })
        const error = (yield* rejection(() => fetch(`${ORIGIN}/ok`))) as OAuthError.TransportError
        assert.strictEqual(error._tag, "TransportError")
        assert.strictEqual(error.reason, "Insecure")
        assert.include(error.description, "DPoP")
        assert.strictEqual(api.sent.length, 0)
      }))

    it.scoped("a connection failure is a TransportError with its cause, and no token in it", () =>
      Effect.gen(function*() {
        const { fetch } = yield* fetchSetup
        const error = (yield* rejection(() => fetch(`${ORIGIN}/down?code=secret`))) as OAuthError.TransportError
        assert.strictEqual(error._tag, "TransportError")
        assert.strictEqual(error.reason, "Connection")
        assert.strictEqual(error.endpoint, `${ORIGIN}/down`)
        assert.instanceOf(error.cause, TypeError)
      }))

    it.scoped("an aborted request rejects with the caller's abort reason", () =>
      Effect.gen(function*() {
        const { tokens } = yield* fetchSetup
        const controller = new AbortController()
        const aborting = tokens.authorizedFetch({
          key: "alice",
          origin: ORIGIN,
          fetch: (_input, init) => {
            controller.abort(new Error("stop"))
            return Promise.reject(init?.signal?.reason)
          }
        })
        const error = yield* rejection(() => aborting(`${ORIGIN}/ok`, { signal: controller.signal }))
        assert.strictEqual((error as Error).message, "stop")
      }))

    it.scoped("the signal of a Request is obeyed as fetch obeys it: its abort is the caller's own", () =>
      Effect.gen(function*() {
        const { tokens } = yield* fetchSetup
        const controller = new AbortController()
        const aborting = tokens.authorizedFetch({
          key: "alice",
          origin: ORIGIN,
          fetch: (input) => {
            controller.abort(new Error("stop"))
            return Promise.reject((input as Request).signal.reason)
          }
        })
        const error = yield* rejection(() => aborting(new Request(`${ORIGIN}/ok`, { signal: controller.signal })))
        assert.notInstanceOf(error, OAuthError.TransportError)
        assert.strictEqual((error as Error).message, "stop")
      }))
  })

  describe("an abort while a token is refreshed", () => {
    // A token due for refresh, and a token endpoint that takes 5 seconds to answer (on the test's clock).
    const slowRefresh = Effect.gen(function*() {
      const { manager, server } = yield* managerFor(yield* makeServer({ latency: "5 seconds" }))
      const first = yield* login(server)
      yield* manager.set("alice", first)
      const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
        Effect.provideService(TokenManager.TokenManager, manager)
      )
      yield* TestClock.adjust("55 seconds")
      const tokens = TokenManagerPromise.fromRuntime(runtime)
      const api = resource(server, runtime as Runtime.Runtime<never>)
      const fetch = tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch: api.fetch })
      return { first: access(first), server, tokens, fetch }
    })

    it.scoped("rejects with the reason at once, and the refresh goes on for the key", () =>
      Effect.gen(function*() {
        const { fetch, first, server, tokens } = yield* slowRefresh
        const controller = new AbortController()
        const fetching = fetch(`${ORIGIN}/ok`, { signal: controller.signal })
        const getting = tokens.getToken("alice", { signal: controller.signal })
        // The refresh has reached the server, which answers in 5 seconds.
        for (let turns = 0; (yield* refreshes(server)) === 0 && turns < 10_000; turns++) yield* Effect.yieldNow()
        assert.strictEqual(yield* refreshes(server), 1)
        controller.abort(new Error("stop"))
        // No time passes on the clock: before the fix, both waited for the server's answer.
        assert.strictEqual(((yield* rejection(() => fetching)) as Error).message, "stop")
        assert.strictEqual(((yield* rejection(() => getting)) as Error).message, "stop")
        yield* TestClock.adjust("5 seconds")
        // The refresh they had joined answered: its token is served with no further wait.
        const fresh = yield* Effect.promise(() => tokens.getToken("alice"))
        assert.notStrictEqual(access(fresh), first)
        assert.strictEqual(yield* refreshes(server), 1)
      }))

    it.scoped("a signal aborted already rejects before any refresh starts", () =>
      Effect.gen(function*() {
        const { fetch, server, tokens } = yield* slowRefresh
        const reason = new Error("gone")
        const signal = AbortSignal.abort(reason)
        assert.strictEqual(yield* rejection(() => fetch(`${ORIGIN}/ok`, { signal })), reason)
        assert.strictEqual(yield* rejection(() => tokens.getToken("alice", { signal })), reason)
        assert.strictEqual(yield* refreshes(server), 0)
      }))
  })

  it.live("over a real socket: the token reaches the resource, and a redirect comes back unfollowed", () =>
    Effect.gen(function*() {
      const seen: Array<string | undefined> = []
      const server = Http.createServer((request, response) => {
        seen.push(request.headers.authorization)
        if (request.url === "/redirect") {
          response.writeHead(302, { location: "http://127.0.0.2:1/steal" })
          return response.end()
        }
        response.writeHead(200, { "content-type": "text/plain" })
        response.end("ok")
      })
      yield* listen(server)
      const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const { manager, server: auth, tokens } = yield* setup()
      const first = yield* login(auth)
      yield* manager.set("alice", first)
      const fetch = tokens.authorizedFetch({ key: "alice", origin })
      const ok = yield* Effect.promise(() => fetch(`${origin}/ok`).then((r) => r.text()))
      assert.strictEqual(ok, "ok")
      const redirect = yield* Effect.promise(() => fetch(`${origin}/redirect`))
      assert.strictEqual(redirect.status, 302)
      assert.strictEqual(redirect.headers.get("location"), "http://127.0.0.2:1/steal")
      assert.deepStrictEqual(seen, [`Bearer ${access(first)}`, `Bearer ${access(first)}`])
    }).pipe(Effect.scoped))
})
