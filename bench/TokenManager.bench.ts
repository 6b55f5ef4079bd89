import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import { afterAll, bench, describe } from "vitest"

// A source that answers at once with a fresh one-hour token, so that only the manager is measured.
let refreshes = 0
const source = TokenSource.make(() =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    refreshes += 1
    return Token.make({
      access_token: Redacted.make(`at-${refreshes}`),
      refresh_token: Redacted.make(`rt-${refreshes}`),
      expires_in: 3600
    }, now)
  }), { requiresRefreshToken: false })

const runtime = ManagedRuntime.make(
  TokenManager.layerWithSource().pipe(
    Layer.provide(TokenStore.layerMemory),
    Layer.provide(Layer.succeed(TokenSource.TokenSource, source))
  )
)
afterAll(() => runtime.dispose())

const manager = runtime.runSync(TokenManager.TokenManager)

// A token that entered its refresh window a minute ago.
const dueToken = (now: number) =>
  Token.make({
    access_token: Redacted.make("at-due"),
    refresh_token: Redacted.make("rt-due"),
    expires_in: 3600
  }, now - 3_540_000)

runtime.runSync(
  manager.set("valid", Token.make({ access_token: Redacted.make("at-valid"), expires_in: 3600 }, Date.now()))
)

const thousandGets = Effect.gen(function*() {
  for (let i = 0; i < 1_000; i++) yield* manager.get("valid")
})

const getAtExpiry = Effect.gen(function*() {
  yield* manager.set("due", dueToken(yield* Clock.currentTimeMillis))
  const before = refreshes
  yield* Effect.forEach(Array.from({ length: 1_000 }), () => manager.get("due"), { concurrency: "unbounded" })
  if (refreshes - before !== 1) yield* Effect.dieMessage(`expected one refresh, got ${refreshes - before}`)
})

describe("TokenManager", () => {
  bench("get with a valid token (hot path), 1,000 sequential calls", () => {
    runtime.runSync(thousandGets)
  })
  bench("1,000 concurrent gets at expiry (one refresh)", async () => {
    await runtime.runPromise(getAtExpiry)
  })
})
