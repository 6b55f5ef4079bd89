/**
 * A token endpoint that answers what `fetch` cannot parse, quoting what it was sent: the parser's error
 * keeps the bytes past where it stopped, the client secret (Basic) and the refresh token among them. The
 * `TransportError` keeps that error as its cause, so nothing of either may be left in it.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import type * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import { inspect } from "node:util"
import { listen } from "./utils/listen.js"

const SECRET = "client-s3cr3t-canary-4d1e"
const REFRESH = "rt-s3cr3t-canary-9b2c"

// Raw answers that are not HTTP, each quoting the request it was sent (its Basic credentials and form).
const answers = [
  (request: string) => `HTTP/1.1 200 OK\r\nX\u0000 ${request}\r\n\r\n`,
  (request: string) => `HTTP/1.1 ${request} OK\r\n\r\n`,
  (request: string) => `${request}\r\n\r\n`
]

describe("TokenEndpoint: a token endpoint quoting its request where fetch cannot parse it", () => {
  it.live("the TransportError's cause carries neither the client secret nor the refresh token", () =>
    Effect.gen(function*() {
      let next = 0
      const server = Net.createServer((socket) => {
        const answer = answers[next]!
        let seen = ""
        socket.on("data", (data) => {
          seen += data.toString()
          // The whole request, headers and form: answered once the form has come.
          if (!seen.includes("refresh_token=")) return
          const flat = seen.replaceAll("\r\n", " ")
          socket.end(answer(`${flat} ${Buffer.from(`client:${SECRET}`).toString("base64")} ${SECRET}`))
        })
      })
      yield* listen(server)
      const endpoint = yield* TokenEndpoint.make({
        tokenEndpoint: `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}/token`,
        clientId: "client",
        clientSecret: Redacted.make(SECRET),
        backoff: { maxAttempts: 1 }
      })
      const token = Token.make({ access_token: Redacted.make("at-1"), refresh_token: Redacted.make(REFRESH) }, 0)
      for (next = 0; next < answers.length; next++) {
        const error = (yield* Effect.flip(endpoint.refresh(token))) as OAuthError.OAuthError
        assert.strictEqual(error._tag, "TransportError", `answer ${next}: ${String(error)}`)
        const cause = (error as OAuthError.TransportError).cause
        const rendered = [
          String(error),
          JSON.stringify(error),
          inspect(error, { depth: 10 }),
          Cause.pretty(Cause.fail(error)),
          Cause.pretty(Cause.die(cause))
        ]
        for (const text of rendered) {
          assert.notInclude(text, SECRET, `answer ${next}`)
          assert.notInclude(text, REFRESH, `answer ${next}`)
          assert.notInclude(text, Buffer.from(`client:${SECRET}`).toString("base64"), `answer ${next}`)
        }
      }
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer)))
})
