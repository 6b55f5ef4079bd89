import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as loopback from "../src/internal/loopback.js"

const get = (url: string) =>
  Effect.promise(() => fetch(url).then(async (response) => ({ status: response.status, body: await response.text() })))

describe("loopback redirect listener", () => {
  it.scopedLive("listens on 127.0.0.1 and takes only the redirect with the login's state", () =>
    Effect.gen(function*() {
      const listener = yield* loopback.listen
      const url = new URL(listener.redirectUri)
      assert.strictEqual(url.hostname, "127.0.0.1")
      assert.strictEqual(url.pathname, "/callback")
      yield* listener.expect("the-state")
      const waiting = yield* Effect.fork(listener.callback)

      assert.strictEqual((yield* get(`${listener.redirectUri}?code=forged&state=other`)).status, 400)
      assert.strictEqual((yield* get(`${url.origin}/favicon.ico`)).status, 404)
      assert.strictEqual((yield* get(`${listener.redirectUri}?state=the-state`)).status, 404)
      assert.isNull(yield* Fiber.poll(waiting).pipe(Effect.map((exit) => exit._tag === "Some" ? exit : null)))

      const done = yield* get(`${listener.redirectUri}?code=the-code&state=the-state`)
      assert.strictEqual(done.status, 200)
      assert.include(done.body, "Login complete")
      const params = yield* Fiber.join(waiting)
      assert.strictEqual(params.get("code"), "the-code")
    }))
})
