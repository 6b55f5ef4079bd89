import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { afterAll, bench, describe } from "vitest"

// The request path of `AuthorizedClient` alone: a resource answering 200 at once, in memory, and a
// token that is already valid, so that neither the network nor a refresh is measured.
const source = TokenSource.make(() => Effect.dieMessage("no refresh expected"), { requiresRefreshToken: false })

const runtime = ManagedRuntime.make(
  TokenManager.layerWithSource().pipe(
    Layer.provide(TokenStore.layerMemory),
    Layer.provide(Layer.succeed(TokenSource.TokenSource, source))
  )
)
afterAll(() => runtime.dispose())

const manager = runtime.runSync(TokenManager.TokenManager)
runtime.runSync(
  manager.set("valid", Token.make({ access_token: Redacted.make("at-valid"), expires_in: 3600 }, Date.now()))
)

const resource = HttpClient.make((request) =>
  Effect.succeed(HttpClientResponse.fromWeb(request, new Response("ok", { status: 200 })))
)
const client = AuthorizedClient.authorize(resource, manager, { key: "valid", origin: "https://api.example.com" })

const thousandGets = Effect.gen(function*() {
  for (let i = 0; i < 1_000; i++) yield* client.get("https://api.example.com/items?page=1")
})
const thousandRawGets = Effect.gen(function*() {
  for (let i = 0; i < 1_000; i++) yield* resource.get("https://api.example.com/items?page=1")
})

describe("AuthorizedClient", () => {
  bench("authorized GET, 1,000 sequential requests (in-memory resource)", async () => {
    await runtime.runPromise(thousandGets)
  }, { time: 3_000 })
  bench("the same GETs on the wrapped client alone (the floor)", async () => {
    await runtime.runPromise(thousandRawGets)
  }, { time: 3_000 })
})
