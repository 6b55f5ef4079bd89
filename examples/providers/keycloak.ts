/**
 * Keycloak: `pnpm tsx providers/keycloak.ts`. With KEYCLOAK_URL, KEYCLOAK_REALM, KEYCLOAK_CLIENT_ID,
 * KEYCLOAK_CLIENT_SECRET and KEYCLOAK_REFRESH_TOKEN set, against that server; otherwise against the
 * Keycloak dialect.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "Keycloak",
  dialect: Dialect.keycloak,
  issuer: "https://sso.test/realms/acme",
  server: { accessTokenTtl: "5 minutes", refreshTokenTtl: "30 minutes" },
  simulated: () =>
    Provider.keycloak({
      clientId: "client",
      clientSecret: Redacted.make("secret"),
      baseUrl: "https://sso.test",
      realm: "acme"
    }),
  real: fromEnv(
    "KEYCLOAK_URL",
    Config.all({
      baseUrl: Config.string("KEYCLOAK_URL"),
      realm: Config.string("KEYCLOAK_REALM"),
      clientId: Config.string("KEYCLOAK_CLIENT_ID"),
      clientSecret: Config.redacted("KEYCLOAK_CLIENT_SECRET"),
      refreshToken: Config.redacted("KEYCLOAK_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.keycloak(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
