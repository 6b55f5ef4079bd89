/**
 * GitHub: `pnpm tsx providers/github.ts`. With GITHUB_CLIENT_ID, GITHUB_CLIENT_SECRET and
 * GITHUB_REFRESH_TOKEN (an expiring GitHub app user token's refresh token) set, against github.com;
 * otherwise against the GitHub dialect of the in-memory server.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "GitHub",
  dialect: Dialect.github,
  issuer: "https://github.test",
  server: { accessTokenTtl: "28800 seconds", refreshTokenTtl: "15811200 seconds" },
  simulated: (issuer) =>
    Provider.github({ clientId: "client", clientSecret: Redacted.make("secret"), baseUrl: issuer, apiUrl: issuer }),
  real: fromEnv(
    "GITHUB_CLIENT_ID",
    Config.all({
      clientId: Config.string("GITHUB_CLIENT_ID"),
      clientSecret: Config.redacted("GITHUB_CLIENT_SECRET"),
      refreshToken: Config.redacted("GITHUB_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.github(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
