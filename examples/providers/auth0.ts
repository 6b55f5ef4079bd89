/**
 * Auth0: `pnpm tsx providers/auth0.ts`. With AUTH0_DOMAIN, AUTH0_CLIENT_ID, AUTH0_CLIENT_SECRET,
 * AUTH0_AUDIENCE and AUTH0_REFRESH_TOKEN set, against the tenant; otherwise against the Auth0 dialect.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "Auth0",
  dialect: Dialect.auth0,
  issuer: "https://tenant.auth0.test",
  simulated: (issuer) =>
    Provider.auth0({
      clientId: "client",
      clientSecret: Redacted.make("secret"),
      domain: issuer,
      audience: "https://api.example.com"
    }),
  real: fromEnv(
    "AUTH0_DOMAIN",
    Config.all({
      domain: Config.string("AUTH0_DOMAIN"),
      clientId: Config.string("AUTH0_CLIENT_ID"),
      clientSecret: Config.redacted("AUTH0_CLIENT_SECRET"),
      audience: Config.string("AUTH0_AUDIENCE"),
      refreshToken: Config.redacted("AUTH0_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.auth0(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
