/**
 * An issuer's signing keys and key set, scripted, for the ID token and key set tests.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as IdToken from "@tokenfx/http/IdToken"
import * as Jwks from "@tokenfx/http/Jwks"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as jose from "jose"
import * as Endpoint from "./endpoint.js"
import * as FakeHttp from "./FakeHttp.js"

export const ISSUER = Endpoint.issuer
export const JWKS_URI = `${ISSUER}/jwks`
export const CLIENT = Endpoint.clientId
export const NOW = 1_800_000_000 // seconds

export interface Signer {
  readonly kid: string
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly publicJwk: jose.JWK
}

export const signer = (kid: string, alg = "ES256") =>
  Effect.promise(async (): Promise<Signer> => {
    const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true })
    return {
      kid,
      alg,
      privateKey: privateKey as CryptoKey,
      publicJwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: "sig" }
    }
  })

export const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  sub: "alice",
  aud: CLIENT,
  iat: NOW,
  exp: NOW + 300,
  nonce: "n-1",
  ...overrides
})

export const sign = (key: Signer, payload: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  Effect.promise(() =>
    new jose.SignJWT(payload as jose.JWTPayload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(
      key.privateKey
    )
  ).pipe(Effect.map(Redacted.make))

/** Signs the payload text as it is: what a hostile issuer sends need not survive `JSON.stringify`. */
export const signText = (key: Signer, payload: string, header: Record<string, unknown> = {}) =>
  Effect.promise(() =>
    new jose.CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({
      alg: key.alg,
      kid: key.kid,
      ...header
    }).sign(key.privateKey)
  ).pipe(Effect.map(Redacted.make))

// A JWKS endpoint whose key set the test can change; every fetch is recorded.
export const keyServer = (initial: ReadonlyArray<Signer>) => {
  let keys = initial
  const server = FakeHttp.make(() => FakeHttp.json({ keys: keys.map((k) => k.publicJwk) }))
  return {
    server,
    rotate: (next: ReadonlyArray<Signer>) => {
      keys = next
    },
    fetches: () => server.requests.filter((r) => r.url === JWKS_URI).length
  }
}

export const setup = Effect.gen(function*() {
  yield* TestClock.setTime(NOW * 1000)
  const key = yield* signer("k1")
  const keys = keyServer([key])
  const jwks = yield* Jwks.make({ uri: JWKS_URI }).pipe(
    Effect.provideService(HttpClient.HttpClient, keys.server.client)
  )
  return { key, keys, jwks }
})

export const expected = { issuer: ISSUER, clientId: CLIENT, nonce: "n-1" }

export const reasonOf = (effect: Effect.Effect<unknown, IdToken.VerifyError>) =>
  Effect.map(Effect.flip(effect), (error) => error._tag === "InvalidIdToken" ? error.reason : error._tag)
