/**
 * The packed-tarball smoke test's app (see scripts/smoke.sh): a user's program, installed from the
 * tarballs with npm outside the workspace. scripts/smoke.sh copies this one file to `esm.mts`, `cjs.cts`
 * (compiled by tsc with `module: node16`, run with plain `node`) and `bundler.ts` (type-checked with
 * `moduleResolution: bundler`).
 *
 * Against a token endpoint and a resource server on 127.0.0.1 (node:http, below), for a file store and
 * a SQLite store: client credentials through `TokenManager`, calls through `AuthorizedClient`, the token
 * found in the store, and a second manager over the same store (file, SQLite) that reuses it without a
 * token request.
 */
import { NodeFileSystem, NodeHttpClient, NodePath } from "@effect/platform-node"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Token, TokenStore } from "@tokenfx/core"
import { AuthorizedClient, TokenEndpoint, TokenManager } from "@tokenfx/http"
import { EncryptedTokenStore } from "@tokenfx/storage"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as SqlTokenStore from "@tokenfx/storage/SqlTokenStore"
import { AuthorizationServer } from "@tokenfx/testing"
import { Effect, Layer, Option, Redacted } from "effect"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

const format = typeof require === "function" && typeof module === "object" ? "cjs" : "esm"
const clientId = "smoke-client"
const clientSecret = "smoke-s3cret:+/"
const expectedBasic = `Basic ${
  Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString("base64")
}`

let tokenRequests = 0
const issued = new Set<string>()

const readBody = (request: Http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    let body = ""
    request.setEncoding("utf8")
    request.on("data", (chunk: string) => (body += chunk))
    request.on("end", () => resolve(body))
    request.on("error", reject)
  })

const server = Http.createServer((request, response) => {
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" })
    response.end(JSON.stringify(body))
  }
  if (request.method === "POST" && request.url === "/token") {
    void readBody(request).then((body) => {
      const form = new URLSearchParams(body)
      if (request.headers.authorization !== expectedBasic) return reply(401, { error: "invalid_client" })
      if (form.get("grant_type") !== "client_credentials") return reply(400, { error: "unsupported_grant_type" })
      tokenRequests++
      const accessToken = `smoke-access-${tokenRequests}`
      issued.add(accessToken)
      return reply(200, { access_token: accessToken, token_type: "Bearer", expires_in: 3600 })
    })
    return
  }
  if (request.method === "GET" && request.url === "/resource") {
    const bearer = request.headers.authorization?.replace(/^Bearer /, "") ?? ""
    return issued.has(bearer) ? reply(200, { hello: "smoke", format }) : reply(401, { error: "invalid_token" })
  }
  reply(404, { error: "not_found" })
})

const call = (origin: string, storeLayer: Layer.Layer<TokenStore.TokenStore, unknown>) =>
  Effect.gen(function*() {
    const client = yield* AuthorizedClient.AuthorizedClient
    const response = yield* client.get(`${origin}/resource`)
    const body = yield* response.json
    const store = yield* TokenStore.TokenStore
    const stored = yield* store.get("smoke")
    if (Option.isNone(stored)) return yield* Effect.dieMessage("no token in the store after the call")
    if (!Token.isToken(stored.value.token)) return yield* Effect.dieMessage("the stored value is not a Token")
    return body
  }).pipe(
    Effect.provide(
      AuthorizedClient.layer({ key: "smoke", origin }).pipe(
        Layer.provideMerge(TokenManager.layer({ source: TokenManager.clientCredentials() })),
        Layer.provideMerge(storeLayer),
        Layer.provide(TokenEndpoint.layer({
          tokenEndpoint: `${origin}/token`,
          clientId,
          clientSecret: Redacted.make(clientSecret)
        })),
        Layer.provide(NodeHttpClient.layerUndici)
      )
    )
  )

const check = (
  name: string,
  origin: string,
  storeLayer: Layer.Layer<TokenStore.TokenStore, unknown>,
  expectedRequests = 1
) =>
  Effect.gen(function*() {
    const before = tokenRequests
    const first = yield* call(origin, storeLayer)
    const second = yield* call(origin, storeLayer)
    const requests = tokenRequests - before
    if (JSON.stringify(first) !== JSON.stringify({ hello: "smoke", format })) {
      return yield* Effect.dieMessage(`${name}: unexpected resource answer ${JSON.stringify(first)}`)
    }
    if (JSON.stringify(second) !== JSON.stringify(first)) {
      return yield* Effect.dieMessage(`${name}: the second call answered ${JSON.stringify(second)}`)
    }
    if (requests !== expectedRequests) {
      return yield* Effect.dieMessage(`${name}: ${requests} token requests, expected ${expectedRequests}`)
    }
    console.log(`smoke ${format}: ${name} store: ${JSON.stringify(first)}, ${requests} token request(s)`)
  })

const main = Effect.gen(function*() {
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-smoke-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(directory, { recursive: true, force: true })))
  yield* Effect.acquireRelease(
    Effect.async<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () => Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
  )
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  yield* check(
    "file",
    origin,
    FileTokenStore.layerFileSystem(Path.join(directory, "tokens")).pipe(
      Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
    )
  )
  yield* check(
    "SQLite",
    origin,
    SqlTokenStore.layerSql().pipe(Layer.provide(SqliteClient.layer({ filename: Path.join(directory, "tokens.db") })))
  )
  // Each provision of the memory layer is a new, empty store: two token requests.
  yield* check("memory", origin, TokenStore.layerMemory, 2)

  // The other modules load too.
  if (typeof EncryptedTokenStore.layer !== "function" || typeof AuthorizationServer.make !== "function") {
    return yield* Effect.dieMessage("a module did not load")
  }
  console.log(`smoke ${format}: ok`)
})

Effect.runPromise(Effect.scoped(main)).then(
  () => {
    process.exitCode = 0
  },
  (error: unknown) => {
    console.error(`smoke ${format}: FAILED`, error)
    process.exitCode = 1
  }
)
