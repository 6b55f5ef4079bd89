import { assert, describe, it } from "@effect/vitest"
import * as Jwt from "@tokenfx/core/Jwt"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Pkce from "@tokenfx/core/Pkce"
import * as ProtocolError from "@tokenfx/core/ProtocolError"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizationCode from "@tokenfx/http/AuthorizationCode"
import * as Discovery from "@tokenfx/http/Discovery"
import * as Dpop from "@tokenfx/http/Dpop"
import * as IdToken from "@tokenfx/http/IdToken"
import * as TokenEndpointError from "@tokenfx/http/TokenEndpointError"
import * as TokenManagerError from "@tokenfx/http/TokenManagerError"
import * as UserInfo from "@tokenfx/http/UserInfo"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as CliError from "../src/CliError.js"

// One instance of every error class tokenfx exports. A new error class fails the second test until it
// is listed here, and the first until it carries the brand.
const errors: ReadonlyArray<Error> = [
  ...Object.values(ProtocolError.byCode).map((Class) => new Class()),
  new OAuthError.UnknownOAuthError({ code: "account_locked" }),
  new OAuthError.TransportError({ reason: "Connection" }),
  new OAuthError.MalformedResponse({ reason: "not JSON" }),
  new OAuthError.ReconnectRequired({ key: "user-1", reason: "revoked" }),
  new Jwt.InvalidJwt({ reason: "not a JWT" }),
  new Pkce.InvalidVerifier({ length: 3 }),
  new StoredToken.MalformedStoredToken({ reason: "not JSON" }),
  new TokenStore.TokenStoreError({ operation: "get", description: "disk full" }),
  new TokenStore.CorruptedToken({ key: "user-1", reason: "not JSON" }),
  new TokenStore.InsecureStorage({ reason: "mode 0644" }),
  CliError.make("Failure", "it failed", "try again"),
  new AuthorizationCode.InvalidAuthorizationResponse({ reason: "StateMismatch" }),
  new Discovery.IssuerMismatch({ expected: "https://a.example", actual: "https://b.example", endpoint: "metadata" }),
  new Dpop.InvalidDpopKey({ reason: "not extractable" }),
  new IdToken.InvalidIdToken({ reason: "Nonce", description: "nonce mismatch" }),
  new UserInfo.SubjectMismatch({ reason: "Mismatch" }),
  new UserInfo.InvalidUserInfo({ reason: "Unsigned", description: "the answer is not a signed JWT" }),
  new TokenEndpointError.MissingEndpoint({ endpoint: "revocation" }),
  new TokenManagerError.LeaseTimeout({ key: "user-1", timeout: Duration.seconds(5) }),
  new TokenManagerError.LeaseLost({ key: "user-1" }),
  new TokenManagerError.RefreshTimeout({ key: "user-1", timeout: Duration.seconds(90) })
]

// Every package tokenfx publishes.
const packages = ["core", "http", "storage", "testing", "cli"]

const exportedErrorClasses = async (): Promise<Set<abstract new(...args: never) => Error>> => {
  const classes = new Set<abstract new(...args: never) => Error>()
  for (const name of packages) {
    const src = path.join(import.meta.dirname, "..", "..", name, "src")
    for (const file of fs.readdirSync(src)) {
      if (!file.endsWith(".ts") || file === "index.ts" || file === "bin.ts") continue
      const module: Record<string, unknown> = await import(`@tokenfx/${name}/${file.slice(0, -3)}`)
      for (const value of Object.values(module)) {
        if (typeof value === "function" && value.prototype instanceof Error) {
          classes.add(value as abstract new(...args: never) => Error)
        }
      }
    }
  }
  return classes
}

describe("the brand of tokenfx errors", () => {
  it("OAuthError.isOAuthError recognises every error tokenfx defines", () => {
    for (const error of errors) assert.isTrue(OAuthError.isOAuthError(error), error.constructor.name)
    assert.isFalse(OAuthError.isOAuthError(new Error("foreign")))
    assert.isFalse(OAuthError.isOAuthError({ _tag: "InvalidGrant" }))
  })

  it("lists every error class the packages export", async () => {
    const listed = new Set(errors.map((error) => error.constructor))
    const missing = [...await exportedErrorClasses()].filter((Class) => !listed.has(Class)).map((Class) => Class.name)
    assert.deepStrictEqual(missing, [])
  })

  it("Schema.is(OAuthError.OAuthError) narrows to the errors of an OAuth exchange only", () => {
    const isExchangeError = Schema.is(OAuthError.OAuthError)
    assert.isTrue(isExchangeError(new OAuthError.InvalidGrant()))
    assert.isTrue(isExchangeError(new OAuthError.TransportError({ reason: "Timeout" })))
    assert.isFalse(isExchangeError(new TokenStore.TokenStoreError({ operation: "get", description: "disk full" })))
    assert.isFalse(isExchangeError(CliError.make("Failure", "it failed", "try again")))
  })
})
