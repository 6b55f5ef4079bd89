/**
 * Microsoft Entra ID: `pnpm tsx providers/entra-id.ts`. With ENTRA_TENANT, ENTRA_CLIENT_ID,
 * ENTRA_CLIENT_SECRET, ENTRA_SCOPE (such as `https://graph.microsoft.com/.default`) and
 * ENTRA_REFRESH_TOKEN set, against login.microsoftonline.com; otherwise against the Entra ID dialect.
 */
import * as Provider from "@tokenfx/http/Provider"
import * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { fromEnv, run } from "./shared.js"

export const program = run({
  name: "Microsoft Entra ID",
  dialect: Dialect.entraId,
  issuer: "https://login.test/contoso.onmicrosoft.com",
  simulated: () =>
    Provider.entraId({
      clientId: "client",
      clientSecret: Redacted.make("secret"),
      authority: "https://login.test",
      tenant: "contoso.onmicrosoft.com",
      scope: ["openid", "https://graph.test/.default"]
    }),
  real: fromEnv(
    "ENTRA_CLIENT_ID",
    Config.all({
      tenant: Config.string("ENTRA_TENANT"),
      clientId: Config.string("ENTRA_CLIENT_ID"),
      clientSecret: Config.redacted("ENTRA_CLIENT_SECRET"),
      scope: Config.array(Config.string(), "ENTRA_SCOPE"),
      refreshToken: Config.redacted("ENTRA_REFRESH_TOKEN")
    }).pipe(Config.map(({ refreshToken, ...client }) => ({ profile: Provider.entraId(client), refreshToken })))
  )
})

if (import.meta.url === `file://${process.argv[1]}`) Effect.runPromise(program)
