/**
 * Token basics: decode a token endpoint's answer, ask when the token needs a refresh, and match an
 * OAuth error by its tag. Runs on its own: `pnpm --filter @tokenfx/examples token-basics`.
 */
import { ErrorResponse, Expiry, Token } from "@tokenfx/core"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"

export const program = Effect.gen(function*() {
  // What a server might send: expires_in as a string, token_type in lower case, an extra field.
  const token = yield* Token.fromBody({
    access_token: "an-access-token",
    token_type: "bearer",
    expires_in: "3600",
    refresh_token: "a-refresh-token",
    scope: "api:read api:write",
    refresh_in: 1800
  })
  yield* Console.log(`token type: ${token.tokenType}, scopes: ${token.scopes.join(", ")}`)
  yield* Console.log(`access token prints as: ${token.accessToken}`)
  const refreshAt = Expiry.refreshAt(token)
  yield* Console.log(
    `expires at ${DateTime.formatIso(token.expiresAt!)}, refresh from ${DateTime.formatIso(refreshAt!)}`
  )
  yield* Console.log(`needs a refresh now: ${yield* Expiry.needsRefresh(token)}`)

  // A refresh answer without a new refresh token keeps the old one.
  const rotated = yield* Token.fromBody({ access_token: "a-new-access-token", expires_in: 3600 }).pipe(
    Effect.flatMap((next) => Token.rotate(token, { access_token: next.accessToken, expires_in: 3600 }))
  )
  yield* Console.log(`after rotation the refresh token is kept: ${Token.sameRefreshToken(token, rotated)}`)

  // Every OAuth failure is its own class, with what to do about it.
  const error = ErrorResponse.fromHttp({
    status: 400,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: "invalid_grant", error_description: "refresh token revoked" }),
    endpoint: "https://auth.example.com/token"
  }, 0)
  yield* Console.log(`${error._tag} -> ${error.disposition}: ${error.message}`)

  // Bad input is a typed error that names the field, never a crash.
  const malformed = yield* Effect.flip(Token.fromBody({ access_token: "", expires_in: -5 }))
  yield* Console.log(`${malformed._tag}: ${malformed.message}`)
})

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(program)
}
