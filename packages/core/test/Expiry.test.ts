import { assert, describe, it } from "@effect/vitest"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

describe("Expiry", () => {
  it.effect("a one-hour token needs a refresh from 55 minutes", () =>
    Effect.gen(function*() {
      const token = yield* Token.fromResponse({ access_token: Redacted.make("at"), expires_in: 3600 })
      yield* TestClock.adjust("55 minutes")
      yield* TestClock.adjust("-1 millis").pipe(Effect.ignore)
      assert.strictEqual(Expiry.refreshAtMillis(token), 55 * 60_000)
    }))
})
