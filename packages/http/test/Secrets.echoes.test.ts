/**
 * Secrets a server echoes where the plain search for them misses: across the point where a long text is
 * cut short, and in the fields a provider's profile reads from its own dialect. Each is masked, and
 * masking keeps what the error carries besides.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Provider from "@tokenfx/http/Provider"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { inspect } from "node:util"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"

// Long enough to straddle the cut at 1,024 characters, as JWT access and refresh tokens do.
const RT = `rt-s3cr3t-${"q".repeat(300)}`
const AT = `at-s3cr3t-${"w".repeat(1_500)}`

// Every way an error is shown.
const shown = (error: unknown) => [String(error), JSON.stringify(error), inspect(error, { depth: 10 })].join("\n")

const refreshAgainst = (
  reply: FakeHttp.Reply,
  endpoint: (server: FakeHttp.FakeServer) => Effect.Effect<TokenEndpoint.TokenEndpoint["Type"]> = (server) =>
    Endpoint.make(server, { backoff: { maxAttempts: 1 } }),
  refreshToken = RT
) =>
  Effect.gen(function*() {
    const token = Token.make({ access_token: Redacted.make("at-1"), refresh_token: Redacted.make(refreshToken) }, 0)
    return yield* Effect.flip((yield* endpoint(FakeHttp.make([reply]))).refresh(token))
  })

const entraId = (server: FakeHttp.FakeServer) =>
  TokenEndpoint.make({
    ...Provider.entraId({ clientId: "client", tenant: "contoso" }).endpoint,
    backoff: { maxAttempts: 1 }
  }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))

describe("secrets echoed where a plain search misses them", () => {
  it.effect("a refresh token cut short with the description: its first characters are masked too", () =>
    Effect.gen(function*() {
      // The cut falls 40 characters into the refresh token.
      const description = `${"x".repeat(984)}${RT} is not valid`
      const error = yield* refreshAgainst(
        FakeHttp.json({ error: "invalid_grant", error_description: description }, 400)
      )
      assert.strictEqual(error._tag, "InvalidGrant")
      assert.notInclude(shown(error), "rt-s3cr3t")
      assert.strictEqual(
        error._tag === "InvalidGrant" ? error.description : undefined,
        `${"x".repeat(984)}<redacted>${ErrorResponse.truncatedMark}`
      )
    }))

  it.effect("a text cut short where no secret began is kept as it was", () =>
    Effect.gen(function*() {
      const description = "y".repeat(2_000)
      const error = yield* refreshAgainst(
        FakeHttp.json({ error: "invalid_grant", error_description: description }, 400)
      )
      assert.strictEqual(
        error._tag === "InvalidGrant" ? error.description : undefined,
        `${"y".repeat(1_024)}${ErrorResponse.truncatedMark}`
      )
    }))

  it.scoped(
    "a resource server's challenge: cut short like any server text, and nothing of a token quoted in it",
    () =>
      Effect.gen(function*() {
        // The first answer quotes the token in full after a long text; the second straddles the cut with it.
        const descriptions = [`${"z".repeat(3_000)} ${AT}`, `${"z".repeat(1_000)} ${AT}`]
        const resource = HttpClient.make((request) =>
          Effect.succeed(HttpClientResponse.fromWeb(
            request,
            new Response("{}", {
              status: 403,
              headers: {
                "www-authenticate":
                  `Bearer error="insufficient_scope", scope="admin", error_description="${descriptions.shift()}"`
              }
            })
          ))
        )
        const source = TokenSource.make(() => Effect.dieMessage("no refresh expected"), { requiresRefreshToken: false })
        const manager = yield* TokenManager.makeWithSource().pipe(
          Effect.provideService(TokenStore.TokenStore, yield* TokenStore.makeMemory),
          Effect.provideService(TokenSource.TokenSource, source)
        )
        yield* manager.set("k", Token.make({ access_token: Redacted.make(AT), expires_in: 3600 }, 0))
        const client = AuthorizedClient.authorize(resource, manager, { key: "k", origin: "https://api.example.com" })
        for (let i = 0; i < 2; i++) {
          const error = yield* Effect.flip(client.get("https://api.example.com/admin"))
          assert.strictEqual(error._tag, "InsufficientScope")
          assert.notInclude(shown(error), "at-s3cr3t")
          assert.strictEqual(error._tag === "InsufficientScope" ? error.scope : undefined, "admin")
          assert.strictEqual(
            error._tag === "InsufficientScope" ? error.description : undefined,
            i === 0
              ? `${"z".repeat(1_024)}${ErrorResponse.truncatedMark}`
              : `${"z".repeat(1_000)} <redacted>${ErrorResponse.truncatedMark}`
          )
        }
      })
  )

  it.effect("Entra ID: a suberror quoting the refresh token is masked, one longer than a code is left out", () =>
    Effect.gen(function*() {
      const short = "rt-s3cr3t-0123456789"
      const quoting = yield* refreshAgainst(
        FakeHttp.json({ error: "interaction_required", suberror: `bad_token ${short}` }, 400),
        entraId,
        short
      )
      assert.strictEqual(quoting._tag, "InteractionRequired")
      assert.notInclude(shown(quoting), short)
      assert.strictEqual(quoting._tag === "InteractionRequired" ? quoting.suberror : undefined, "bad_token <redacted>")

      const huge = yield* refreshAgainst(
        FakeHttp.json({ error: "interaction_required", suberror: "x".repeat(500_000) }, 400),
        entraId
      )
      assert.strictEqual(huge._tag, "InteractionRequired")
      assert.isBelow(JSON.stringify(huge).length, 2_000)
    }))

  it.effect("masking a description keeps the fields a profile read: Entra ID's suberror, Auth0's mfa_token", () =>
    Effect.gen(function*() {
      const entra = yield* refreshAgainst(
        FakeHttp.json({
          error: "interaction_required",
          error_description: `AADSTS50076: the refresh token ${RT} needs MFA`,
          suberror: "basic_action"
        }, 400),
        entraId
      )
      assert.strictEqual(entra._tag, "InteractionRequired")
      assert.notInclude(shown(entra), "rt-s3cr3t")
      assert.strictEqual(entra._tag === "InteractionRequired" ? entra.suberror : undefined, "basic_action")

      const secret = "cs-0123456789-client-secret"
      const server = FakeHttp.make([FakeHttp.json({
        error: "mfa_required",
        error_description: `Multifactor authentication required for client_secret=${secret}`,
        mfa_token: "mfa-token-1"
      }, 403)])
      const auth0 = yield* TokenEndpoint.make({
        ...Provider.auth0({ clientId: "client", clientSecret: Redacted.make(secret), domain: "tenant.auth0.test" })
          .endpoint,
        backoff: { maxAttempts: 1 }
      }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))
      const mfa = yield* Effect.flip(auth0.clientCredentials())
      assert.strictEqual(mfa._tag, "MfaRequired")
      assert.notInclude(shown(mfa), secret)
      const mfaToken = mfa._tag === "MfaRequired" ? mfa.mfaToken : undefined
      assert.strictEqual(mfaToken === undefined ? undefined : Redacted.value(mfaToken), "mfa-token-1")
    }))
})
