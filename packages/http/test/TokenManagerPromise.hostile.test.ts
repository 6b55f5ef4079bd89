/**
 * `authorizedFetch` and `getToken` as a real application and a hostile resource treat them.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Net from "node:net"
import { Readable } from "node:stream"
import { inspect } from "node:util"
import { access, login, makeServer, managerFor, requests } from "./utils/authorizationServer.js"
import { listen } from "./utils/listen.js"

const ORIGIN = "https://api.example.com"

// What a Promise rejected with, as a value; a `Response` it answered instead, as its status.
const rejection = (promise: () => Promise<unknown>) =>
  Effect.promise(() =>
    promise().then((answered) => answered instanceof Response ? `answered ${answered.status}` : answered, (e) => e)
  )

interface Sent {
  readonly url: string
  readonly authorization: string | null
  readonly headers: ReadonlyArray<[string, string]>
  readonly body: string
}

// A resource behind a fake `fetch` that reads the request as the platform's `fetch` does (`new
// Request` validates the headers and consumes the body), and answers 401 to the tokens `reject`ed.
const api = () => {
  const sent: Array<Sent> = []
  const rejected = new Set<string>()
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    const authorization = request.headers.get("authorization")
    sent.push({ url: request.url, authorization, headers: [...request.headers], body: await request.text() })
    const accepted = authorization !== null && !rejected.has(authorization.replace(/^Bearer /, ""))
    return new Response(null, { status: accepted ? 200 : 401 })
  }
  const reject = (token: Token.Token) => Effect.sync(() => rejected.add(access(token)))
  return { sent, fetch, reject }
}

// A manager over a new in-memory authorization server (answering after `latency` on the test's
// clock), alice logged in, and its Promise facade.
const setup = (latency?: Duration.DurationInput) =>
  Effect.gen(function*() {
    const { manager, server } = yield* managerFor(yield* makeServer({ latency }))
    yield* manager.set("alice", yield* login(server))
    const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
      Effect.provideService(TokenManager.TokenManager, manager)
    )
    const tokens = TokenManagerPromise.fromRuntime(runtime)
    const resource = api()
    const fetch = tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch: resource.fetch })
    return { manager, server, tokens, resource, fetch, reject: resource.reject }
  })

describe("TokenManagerPromise against a hostile resource and a careless application", () => {
  it.scoped("a body read from an async iterable (a Node stream, a generator) is never sent again after a 401", () =>
    Effect.gen(function*() {
      const { fetch, manager, reject, resource, server } = yield* setup()
      async function* generated() {
        yield new TextEncoder().encode("part one, ")
        yield new TextEncoder().encode("part two")
      }
      for (const body of [generated(), Readable.from(["part one, ", "part two"])]) {
        const token = yield* login(server)
        yield* manager.set("alice", token)
        yield* reject(token)
        resource.sent.length = 0
        const init = { method: "PUT", body, duplex: "half" } as unknown as RequestInit
        const error = yield* rejection(() => fetch(`${ORIGIN}/upload`, init))
        assert.deepStrictEqual(resource.sent.map((sent) => sent.body), ["part one, part two"])
        assert.strictEqual((error as OAuthError.InvalidToken)._tag, "InvalidToken")
        assert.include((error as OAuthError.InvalidToken).description, "stream")
      }
    }))

  it.scoped("a body held in memory (text, bytes, a Blob, a form) is sent whole again after a 401", () =>
    Effect.gen(function*() {
      const { fetch, manager, reject, resource, server } = yield* setup()
      const form = new FormData()
      form.set("name", "alice")
      const bodies: ReadonlyArray<BodyInit> = [
        new URLSearchParams({ name: "alice" }),
        new Blob(["name=alice"]),
        new TextEncoder().encode("name=alice"),
        new TextEncoder().encode("name=alice").buffer,
        form
      ]
      for (const body of bodies) {
        // A 401 for each: the token just refreshed is rejected in its turn.
        const token = yield* login(server)
        yield* manager.set("alice", token)
        yield* reject(token)
        resource.sent.length = 0
        const response = yield* Effect.promise(() => fetch(`${ORIGIN}/upload`, { method: "POST", body }))
        assert.strictEqual(response.status, 200, String(body))
        const [first, retried] = resource.sent.map((sent) => sent.body)
        assert.strictEqual(resource.sent.length, 2)
        // A form is encoded again with a new boundary: the fields are the same.
        assert.strictEqual(retried!.replace(/-{2,}\S+/g, ""), first!.replace(/-{2,}\S+/g, ""))
        assert.include(retried, "alice")
      }
    }))

  it.scoped("a URL object changed after the call never takes the token elsewhere: not after a refresh, not on the retry", () =>
    Effect.gen(function*() {
      const { fetch, manager, reject, resource, server } = yield* setup("5 seconds")
      // The refresh takes 5 seconds: the caller's loop goes on meanwhile and reuses its URL object.
      const waitForRefresh = (count: number) =>
        Effect.gen(function*() {
          for (let turns = 0; (yield* requests(server)) < count && turns < 10_000; turns++) yield* Effect.yieldNow()
          assert.strictEqual(yield* requests(server), count)
        })
      yield* TestClock.adjust("55 seconds")
      const due = new URL(`${ORIGIN}/ok`)
      const refreshing = fetch(due)
      yield* waitForRefresh(1)
      due.host = "evil.example"
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* Effect.promise(() => refreshing)).status, 200)
      // A 401, and the retry after its refresh.
      const token = yield* manager.get("alice")
      yield* reject(token)
      const rejected = new URL(`${ORIGIN}/ok`)
      const retrying = fetch(rejected)
      yield* waitForRefresh(2)
      rejected.host = "evil.example"
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* Effect.promise(() => retrying)).status, 200)
      assert.deepStrictEqual(resource.sent.map((sent) => new URL(sent.url).origin), Array(3).fill(ORIGIN))
    }))

  it.scoped("a token no header can carry (a line break, a NUL) is refused unsent, and no error quotes it", () =>
    Effect.gen(function*() {
      const { manager, resource, tokens } = yield* setup()
      const canary = "tokenfx-canary-7f3e91"
      const fetch = tokens.authorizedFetch({ key: "broken", origin: ORIGIN, fetch: resource.fetch })
      for (const accessToken of [`${canary}\r\nx-injected: 1`, `${canary}\n`, `${canary}\u0000`]) {
        // As a careless authorization server may issue it: the token response decodes any non-empty text.
        yield* manager.set("broken", Token.make({ access_token: Redacted.make(accessToken), expires_in: 60 }, 0))
        for (const headers of [undefined, new Headers({ accept: "*/*" }), { accept: "*/*" }]) {
          const error = yield* rejection(() => fetch(`${ORIGIN}/ok`, headers === undefined ? undefined : { headers }))
          const rendered = [
            String(error),
            (error as Error).message,
            (error as Error).stack ?? "",
            JSON.stringify(error),
            inspect(error, { depth: 10 }),
            Cause.pretty(Cause.fail(error))
          ]
          for (const text of rendered) assert.notInclude(text, canary)
          assert.strictEqual((error as OAuthError.TransportError)._tag, "TransportError")
          assert.strictEqual((error as OAuthError.TransportError).reason, "Insecure")
        }
      }
      assert.strictEqual(resource.sent.length, 0)
    }))

  it.scoped("getToken with a signal aborted already rejects with its reason, a cached token or not", () =>
    Effect.gen(function*() {
      const { tokens } = yield* setup()
      // Cached: the caller that gave up (a client gone, a deadline passed) does not go on with a token.
      assert.strictEqual(typeof (yield* Effect.promise(() => tokens.getToken("alice"))).accessToken, "object")
      const reason = new Error("gone")
      assert.strictEqual(
        yield* rejection(() => tokens.getToken("alice", { signal: AbortSignal.abort(reason) })),
        reason
      )
    }))

  it.scoped("an error names the URL requested, when the fetch beneath answers a Response of its own making", () =>
    Effect.gen(function*() {
      const { fetch, manager, reject } = yield* setup()
      yield* reject(yield* manager.get("alice"))
      // A stream is not retried: the first 401 is the answer. Such a Response has `url` "".
      const body = new ReadableStream({ start: (controller) => controller.close() })
      const init = { method: "POST", body, duplex: "half" } as RequestInit
      const error = (yield* rejection(() => fetch(`${ORIGIN}/ok?page=2`, init))) as OAuthError.InvalidToken
      assert.strictEqual(error._tag, "InvalidToken")
      assert.strictEqual(error.endpoint, `${ORIGIN}/ok`)
    }))

  it.scoped("init.signal null lets go of the Request's own signal, as fetch does", () =>
    Effect.gen(function*() {
      const { fetch, server } = yield* setup("5 seconds")
      yield* TestClock.adjust("55 seconds")
      const request = new Request(`${ORIGIN}/ok`, { signal: AbortSignal.abort(new Error("the request's")) })
      const fetching = fetch(request, { signal: null })
      for (let turns = 0; (yield* requests(server)) === 0 && turns < 10_000; turns++) yield* Effect.yieldNow()
      yield* TestClock.adjust("5 seconds")
      const answer = yield* rejection(() => fetching)
      assert.strictEqual(answer, "answered 200")
    }))

  it.scoped("headers of another implementation (the undici package's, node-fetch's) or a Map are kept, as fetch keeps them", () =>
    Effect.gen(function*() {
      const { fetch, manager, resource } = yield* setup()
      const pairs: ReadonlyArray<[string, string]> = [["authorization", "Bearer forged"], ["content-type", "text/csv"]]
      // As such a Headers looks from here: not `instanceof Headers`, its (WebIDL) methods enumerable,
      // iterable as name/value pairs, which is what `fetch` reads.
      const foreign = {
        get: (name: string) => pairs.find(([key]) => key === name)?.[1] ?? null,
        has: (name: string) => pairs.some(([key]) => key === name),
        *[Symbol.iterator]() {
          yield* pairs
        }
      }
      const token = `Bearer ${access(yield* manager.get("alice"))}`
      for (const headers of [foreign, new Map(pairs)]) {
        resource.sent.length = 0
        const answer = yield* rejection(() => fetch(`${ORIGIN}/ok`, { headers } as unknown as RequestInit))
        assert.strictEqual(answer, "answered 200")
        assert.deepStrictEqual(resource.sent[0]?.headers, [["authorization", token], ["content-type", "text/csv"]])
      }
    }))

  it.live("a resource that quotes the token where fetch cannot parse it: the TransportError's cause does not carry it", () =>
    Effect.gen(function*() {
      // Raw answers that are not HTTP, each quoting the `Authorization` it was sent: the parser's
      // error keeps the bytes past where it stopped (`data`), the token among them.
      const answers = [
        (authorization: string) => `HTTP/1.1 200 OK\r\nX\u0000 ${authorization}\r\n\r\n`,
        (authorization: string) => `HTTP/1.1 ${authorization} OK\r\n\r\n`,
        (authorization: string) => `${authorization}\r\n\r\n`
      ]
      let next = 0
      const server = Net.createServer((socket) => {
        const answer = answers[next]!
        socket.once("data", (data) => {
          socket.end(answer(/authorization: (.*)\r\n/i.exec(data.toString())?.[1] ?? ""))
        })
      })
      yield* listen(server)
      const origin = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
      const { manager, tokens } = yield* setup()
      const token = access(yield* manager.get("alice"))
      const fetch = tokens.authorizedFetch({ key: "alice", origin })
      for (next = 0; next < answers.length; next++) {
        const error = (yield* rejection(() => fetch(`${origin}/me`))) as OAuthError.TransportError
        assert.strictEqual(error._tag, "TransportError", `answer ${next}: ${String(error)}`)
        assert.strictEqual(error.reason, "Connection")
        // The platform's error is kept, as it was: its class, its message.
        assert.instanceOf(error.cause, TypeError)
        const rendered = [
          String(error),
          JSON.stringify(error),
          inspect(error, { depth: 10 }),
          Cause.pretty(Cause.fail(error)),
          Cause.pretty(Cause.die(error.cause))
        ]
        for (const text of rendered) assert.notInclude(text, token, `answer ${next}`)
      }
    }).pipe(Effect.scoped))
})
