import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Json from "@tokenfx/core/Json"
import * as Token from "@tokenfx/core/Token"
import * as UserInfo from "@tokenfx/http/UserInfo"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as FakeHttp from "./utils/FakeHttp.js"

const endpoint = "https://auth.example.com/userinfo"

describe("UserInfo.fetch", () => {
  it.effect("sends the access token as a Bearer token, accepts JSON, and checks the subject", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json({ sub: "alice", email: "alice@example.com" })])
      const token = Token.make({ access_token: Redacted.make("at-1"), token_type: "bearer", expires_in: 60 }, 0)
      const info = yield* UserInfo.fetch(endpoint, token, { subject: "alice" }).pipe(
        Effect.provideService(HttpClient.HttpClient, server.client)
      )
      assert.strictEqual(info.sub, "alice")
      const [request] = server.requests
      assert.strictEqual(request.method, "GET")
      assert.strictEqual(request.headers["authorization"], "Bearer at-1")
      assert.strictEqual(request.headers["accept"], "application/json")
      const other = yield* Effect.flip(
        UserInfo.fetch(endpoint, token, { subject: "bob" }).pipe(
          Effect.provideService(HttpClient.HttpClient, server.client)
        )
      )
      assert.strictEqual(other._tag, "SubjectMismatch")
    }))

  it.effect("a token the server echoes back in an error is masked", () =>
    Effect.gen(function*() {
      const token = Token.make({ access_token: Redacted.make("at-secret-9"), token_type: "Bearer" }, 0)
      const server = FakeHttp.make([{
        status: 401,
        body: { error: "invalid_token", error_description: "token at-secret-9 is revoked" }
      }])
      const error = yield* Effect.flip(
        UserInfo.fetch(endpoint, token, { subject: "alice" }).pipe(
          Effect.provideService(HttpClient.HttpClient, server.client)
        )
      )
      assert.strictEqual(error._tag, "InvalidToken")
      assert.notInclude(JSON.stringify(error) + error.message, "at-secret-9")
    }))

  it.effect("an answer over maxBodySize is a MalformedResponse; the default cap reads it", () =>
    Effect.gen(function*() {
      const token = Token.make({ access_token: Redacted.make("at-1"), token_type: "Bearer" }, 0)
      const big = { sub: "alice", picture: "p".repeat(8 * 1024) }
      const capped = FakeHttp.make([FakeHttp.json(big)])
      const error = yield* Effect.flip(
        UserInfo.fetch(endpoint, token, { subject: "alice", maxBodySize: 4 * 1024 }).pipe(
          Effect.provideService(HttpClient.HttpClient, capped.client)
        )
      )
      assert.strictEqual(error._tag, "MalformedResponse")
      const uncapped = FakeHttp.make([FakeHttp.json(big)])
      const info = yield* UserInfo.fetch(endpoint, token, { subject: "alice" }).pipe(
        Effect.provideService(HttpClient.HttpClient, uncapped.client)
      )
      assert.strictEqual(info.sub, "alice")
    }))

  it("the schema drops __proto__, constructor and prototype members, whoever parsed the JSON", () => {
    const info = Schema.decodeUnknownSync(UserInfo.UserInfo)(
      JSON.parse(`{"sub":"alice","__proto__":{"email_verified":true},"constructor":{},"prototype":1,"email":"a@x"}`)
    )
    assert.strictEqual(Object.getPrototypeOf(info), Object.prototype)
    assert.isUndefined(info["email_verified"])
    for (const name of Json.forbiddenKeys) assert.isFalse(Object.hasOwn(info, name), name)
    assert.strictEqual(info["email"], "a@x")
  })
})
