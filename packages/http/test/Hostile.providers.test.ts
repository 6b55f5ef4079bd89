/**
 * A hostile server speaking a provider's dialect: the profiles' compliance hooks read and rewrite
 * bodies before tokenfx does, and must read them as warily (a deep body is a typed error, never a
 * defect from the hook).
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Provider from "@tokenfx/http/Provider"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as FakeHttp from "./utils/FakeHttp.js"

// 200 KB of nesting: well under the body cap, and far past what a recursive walk survives.
const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`

const endpointOf = (profile: Provider.Profile, body: string) =>
  Effect.gen(function*() {
    const server = FakeHttp.make([{ status: 200, body, headers: { "content-type": "application/json" } }])
    return yield* TokenEndpoint.make({ ...profile.endpoint, backoff: { maxAttempts: 1 } }).pipe(
      Effect.provideService(HttpClient.HttpClient, server.client)
    )
  })

const github = Provider.github({
  clientId: "client",
  clientSecret: Redacted.make("client-secret-1"),
  baseUrl: "https://github.test",
  apiUrl: "https://github.test"
})

const google = Provider.google({
  clientId: "client",
  clientSecret: Redacted.make("client-secret-1"),
  endpoint: {
    tokenEndpoint: "https://google.test/token",
    deviceAuthorizationEndpoint: "https://google.test/device/code"
  }
})

// The failure of an exit: typed, not a defect.
const typed = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure")
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return assert.fail(`a defect: ${Cause.pretty(exit.cause).slice(0, 300)}`)
  return failure.value
}

describe("hostile server, through a provider's profile", () => {
  it.effect("GitHub: an error code the profile renames, beside a deeply nested member", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointOf(github, `{"error":"device_flow_disabled","x":${deep}}`)
      const error = typed(yield* Effect.exit(endpoint.clientCredentials()))
      assert.strictEqual(error._tag, "MalformedResponse")
    }))

  it.effect("GitHub: comma-separated scopes the profile rewrites, beside a deeply nested member", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointOf(
        github,
        `{"access_token":"at-1","token_type":"bearer","scope":"repo,gist","x":${deep}}`
      )
      const error = typed(yield* Effect.exit(endpoint.clientCredentials()))
      assert.strictEqual(error._tag, "MalformedResponse")
    }))

  it.effect("Google: a device answer whose field the profile renames, beside a deeply nested member", () =>
    Effect.gen(function*() {
      const endpoint = yield* endpointOf(
        google,
        `{"device_code":"dc-1","user_code":"ABCD","verification_url":"https://google.test/device","x":${deep}}`
      )
      const error = typed(yield* Effect.exit(endpoint.deviceAuthorization()))
      assert.strictEqual(error._tag, "MalformedResponse")
    }))

  it.effect("the hooks still read honest bodies: GitHub's scopes, Google's verification_url", () =>
    Effect.gen(function*() {
      const token = yield* (yield* endpointOf(
        github,
        `{"access_token":"at-1","token_type":"bearer","scope":"repo,gist"}`
      )).clientCredentials()
      assert.deepStrictEqual(token.scopes, ["repo", "gist"])
      const device = yield* (yield* endpointOf(
        google,
        `{"device_code":"dc-1","user_code":"ABCD","verification_url":"https://google.test/device","expires_in":600}`
      )).deviceAuthorization()
      assert.strictEqual(device.verificationUri, "https://google.test/device")
    }))
})
