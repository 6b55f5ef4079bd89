import * as Expiry from "@tokenfx/core/Expiry"
import * as StoredToken from "@tokenfx/core/StoredToken"
import * as Token from "@tokenfx/core/Token"
import * as Either from "effect/Either"
import { bench, describe } from "vitest"

const body = {
  access_token: "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDM2MDB9.",
  token_type: "bearer",
  expires_in: "3600",
  refresh_token: "refresh",
  scope: "api:read api:write"
}
const token = Token.make(Either.getOrThrow(Token.decodeResponseEither(body)), 1_700_000_000_000)
const json = StoredToken.toJson(token)

describe("Token", () => {
  bench("decode a token response and build the Token", () => {
    const response = Token.decodeResponseEither(body)
    if (Either.isRight(response)) Token.make(response.right, 1_700_000_000_000)
  })
  bench("Expiry.refreshAt", () => {
    Expiry.refreshAt(token)
  })
  bench("storage codec round trip", () => {
    StoredToken.fromJson(StoredToken.toJson(token))
  })
  bench("storage decode", () => {
    StoredToken.fromJson(json)
  })
})
