/**
 * A `TokenEndpoint` wired to a scripted fake server, with every endpoint on one HTTPS host.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as FakeHttp from "./FakeHttp.js"

export const issuer = "https://auth.example.com"
export const tokenUrl = `${issuer}/oauth/token`
export const clientId = "tokenfx-client"
export const secretText = "sp3c!al:secret+/=?&%~"
export const secret = Redacted.make(secretText)

export const options: TokenEndpoint.Options = {
  issuer,
  tokenEndpoint: tokenUrl,
  authorizationEndpoint: `${issuer}/oauth/authorize`,
  revocationEndpoint: `${issuer}/oauth/revoke`,
  introspectionEndpoint: `${issuer}/oauth/introspect`,
  deviceAuthorizationEndpoint: `${issuer}/oauth/device`,
  clientId,
  clientSecret: secret,
  // Exact instants in tests; jitter has its own test.
  backoff: { jitter: 0 }
}

export const make = (
  server: FakeHttp.FakeServer,
  overrides: Partial<TokenEndpoint.Options> = {}
): Effect.Effect<TokenEndpoint.TokenEndpoint["Type"]> =>
  TokenEndpoint.make({ ...options, ...overrides }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))
