/**
 * Google: `pnpm tsx providers/google.ts`. With GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and
 * GOOGLE_REFRESH_TOKEN set, against Google; otherwise against the Google dialect of the in-memory server.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "Google",
  dialect: Dialect.google,
  issuer: "https://google.test",
  simulated: (issuer) =>
    Provider.google({
      clientId: "client",
      clientSecret: Redacted.make("secret"),
      scope: ["openid", "email"],
      endpoint: {
        authorizationEndpoint: `${issuer}/o/oauth2/v2/auth`,
        tokenEndpoint: `${issuer}/token`,
        revocationEndpoint: `${issuer}/revoke`,
        deviceAuthorizationEndpoint: `${issuer}/device/code`
      }
    }),
  real: fromEnv(
    "GOOGLE_CLIENT_ID",
    Config.all({
      clientId: Config.string("GOOGLE_CLIENT_ID"),
      clientSecret: Config.redacted("GOOGLE_CLIENT_SECRET"),
      refreshToken: Config.redacted("GOOGLE_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.google(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
