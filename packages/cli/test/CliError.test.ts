import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as CliError from "../src/CliError.js"

const translate = CliError.fromError("work")

describe("CliError", () => {
  it("gives each kind its own exit code", () => {
    assert.deepStrictEqual(
      new Set(Object.values(CliError.exitCodes)).size,
      Object.keys(CliError.exitCodes).length
    )
    assert.notInclude(Object.values(CliError.exitCodes), 0)
  })

  it("translates library errors into kinds, each with the next step", () => {
    const cases: Array<readonly [unknown, CliError.Kind, string]> = [
      [
        new OAuthError.ReconnectRequired({ key: "work", reason: "revoked" }),
        "ReconnectRequired",
        "tokenfx login --profile work"
      ],
      [new OAuthError.InvalidGrant({}), "ReconnectRequired", "tokenfx login --profile work"],
      [new OAuthError.InvalidClient({}), "Configuration", "client id"],
      [new OAuthError.InvalidScope({}), "Configuration", "scopes"],
      [new OAuthError.InsufficientScope({ scope: "api:write" }), "Configuration", "--scope"],
      [new OAuthError.ServerError({}), "Server", "retry later"],
      [new OAuthError.RateLimited({}), "Server", "retry later"],
      [new OAuthError.TransportError({ reason: "Timeout" }), "Server", "check the network"],
      [new OAuthError.TransportError({ reason: "Insecure" }), "Configuration", "https://"],
      [new OAuthError.AccessDenied({}), "Failure", "approve it"],
      [
        new TokenStore.CorruptedToken({ key: "work", reason: "bad", movedTo: "/x.corrupt" }),
        "ReconnectRequired",
        "to get a new one"
      ],
      [new TokenStore.InsecureStorage({ reason: "mode 644" }), "Configuration", "chmod 600"],
      [{ _tag: "LeaseTimeout", message: "timed out" }, "Server", "retry in a moment"],
      [new Error("boom"), "Failure", "report it"]
    ]
    for (const [error, kind, next] of cases) {
      const translated = translate(error)
      assert.strictEqual(translated.kind, kind, String(error))
      assert.include(translated.message, "Next: ")
      assert.include(translated.message, next)
    }
  })

  it("passes an already translated error through", () => {
    const error = CliError.make("Usage", "bad", "fix it")
    assert.strictEqual(translate(error), error)
  })
})
