/**
 * `authorizedFetch` as a real application and a hostile resource treat it.
 */
import { assert, describe, it } from "@effect/vitest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import type * as Token from "@tokenfx/core/Token"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import { Readable } from "node:stream"
import { login, makeServer, managerFor, resource, type Server } from "./utils/authorizationServer.js"

const ORIGIN = "https://api.example.com"

// What a Promise rejected with, as a value; a `Response` it answered instead, as its status.
const rejection = (promise: () => Promise<unknown>) =>
  Effect.promise(() =>
    promise().then((answered) => answered instanceof Response ? `answered ${answered.status}` : answered, (e) => e)
  )

interface Sent {
  readonly url: string
  readonly authorization: string | null
  readonly body: string
}

// A resource behind a fake `fetch` that reads the request as the platform's `fetch` does (`new
// Request` validates the headers and consumes the body), and accepts the tokens the authorization
// server's resource accepts.
const api = (server: Server, runtime: Runtime.Runtime<never>) => {
  const sent: Array<Sent> = []
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init)
    const authorization = request.headers.get("authorization")
    sent.push({ url: request.url, authorization, body: await request.text() })
    const accessToken = authorization?.replace(/^Bearer /, "") ?? ""
    const answer = await Runtime.runPromise(runtime)(resource(server, accessToken))
    return new Response(null, { status: answer.status === 200 ? 200 : 401 })
  }
  return { sent, fetch }
}

// A manager over a new in-memory authorization server, alice logged in, and its Promise facade.
const setup = () =>
  Effect.gen(function*() {
    const { endpoint, manager, server } = yield* managerFor(yield* makeServer())
    const first = yield* login(server)
    yield* manager.set("alice", first)
    const runtime = yield* Effect.runtime<TokenManager.TokenManager>().pipe(
      Effect.provideService(TokenManager.TokenManager, manager)
    )
    const tokens = TokenManagerPromise.fromRuntime(runtime)
    const resource = api(server, runtime as Runtime.Runtime<never>)
    const fetch = tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch: resource.fetch })
    // The resource stops accepting the first access token: the next request is answered 401.
    const reject = (token: Token.Token) => endpoint.revoke(token.accessToken, "access_token").pipe(Effect.orDie)
    return { first, manager, server, tokens, resource, fetch, reject }
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
})
