import * as FastCheck from "effect/FastCheck"
import { unsignedJwt } from "./fixtures.js"

/** A lifetime as servers send it: whole seconds, fractions, huge values. */
export const seconds: FastCheck.Arbitrary<number> = FastCheck.oneof(
  FastCheck.nat(),
  FastCheck.integer({ min: 0, max: 400 * 86_400 }),
  FastCheck.double({ min: 0, noNaN: true, noDefaultInfinity: true })
)

/** The same, or as a decimal string. */
export const secondsOnTheWire: FastCheck.Arbitrary<number | string> = FastCheck.oneof(
  seconds,
  FastCheck.nat().map(String)
)

/** An access token: opaque, or a JWT with any (even absurd) claims. */
export const accessToken: FastCheck.Arbitrary<string> = FastCheck.oneof(
  FastCheck.string({ minLength: 1 }),
  FastCheck.record({
    exp: FastCheck.oneof(FastCheck.double(), FastCheck.integer(), FastCheck.string(), FastCheck.constant(null)),
    sub: FastCheck.string(),
    scope: FastCheck.string()
  }, { requiredKeys: [] }).map((claims) => unsignedJwt(claims))
)

const tokenType = FastCheck.constantFrom("Bearer", "bearer", "BEARER", "DPoP", "dpop", "N_A", "mac")

const scope = FastCheck.array(FastCheck.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]+$/), { maxLength: 4 })
  .map((scopes) => scopes.join(" "))

/** A valid token response body, as JSON would hand it over. */
export const responseBody = FastCheck.record({
  access_token: accessToken,
  token_type: tokenType,
  expires_in: secondsOnTheWire,
  refresh_token: FastCheck.string(),
  scope,
  id_token: FastCheck.string(),
  refresh_token_expires_in: secondsOnTheWire,
  refresh_in: FastCheck.nat(),
  extension: FastCheck.jsonValue()
}, { requiredKeys: ["access_token"] })

/** Anything a server (or a proxy in front of it) might answer with, parsed as JSON. */
export const anyBody: FastCheck.Arbitrary<unknown> = FastCheck.oneof(
  FastCheck.jsonValue(),
  FastCheck.record({
    access_token: FastCheck.oneof(accessToken, FastCheck.jsonValue()),
    token_type: FastCheck.jsonValue(),
    expires_in: FastCheck.oneof(secondsOnTheWire, FastCheck.jsonValue(), FastCheck.string()),
    refresh_token: FastCheck.jsonValue(),
    scope: FastCheck.jsonValue(),
    id_token: FastCheck.jsonValue(),
    refresh_token_expires_in: FastCheck.jsonValue()
  }, { requiredKeys: [] }),
  responseBody
)
