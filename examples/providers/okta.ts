/**
 * Okta: `pnpm tsx providers/okta.ts`. With OKTA_DOMAIN, OKTA_CLIENT_ID, OKTA_CLIENT_SECRET and
 * OKTA_REFRESH_TOKEN set, against the org's `default` authorization server; otherwise against the
 * Okta dialect.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "Okta",
  dialect: Dialect.okta,
  issuer: "https://example.okta.test/oauth2/default",
  simulated: () =>
    Provider.okta({ clientId: "client", clientSecret: Redacted.make("secret"), domain: "example.okta.test" }),
  real: fromEnv(
    "OKTA_DOMAIN",
    Config.all({
      domain: Config.string("OKTA_DOMAIN"),
      clientId: Config.string("OKTA_CLIENT_ID"),
      clientSecret: Config.redacted("OKTA_CLIENT_SECRET"),
      refreshToken: Config.redacted("OKTA_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.okta(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
