import * as Token from "@tokenfx/core/Token"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"

/** An unsigned compact JWS: enough for code that reads claims without verifying them. */
export const unsignedJwt = (
  claims: unknown,
  header: unknown = { alg: "none", typ: "JWT" },
  signature = "c2lnbmF0dXJl"
): string =>
  `${Encoding.encodeBase64Url(JSON.stringify(header))}.${Encoding.encodeBase64Url(JSON.stringify(claims))}.${signature}`

/** A token received at `issuedAt` (epoch milliseconds) that lives `expiresIn` seconds. */
export const tokenAt = (
  issuedAt: number,
  expiresIn: number | undefined,
  fields: Partial<Omit<Token.TokenResponse, "access_token" | "expires_in">> = {}
): Token.Token =>
  Token.make({
    access_token: Redacted.make("access"),
    ...fields,
    ...(expiresIn === undefined ? {} : { expires_in: expiresIn })
  }, issuedAt)
