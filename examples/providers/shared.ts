/**
 * What every provider example does: a login (against the provider's dialect of the in-memory server by
 * default, or, with the provider's environment variables set, a refresh token you got from the real
 * provider), a token manager that serves the token, a forced refresh (as after a 401), and a
 * disconnect. Nothing secret is printed.
 */
import { NodeHttpClient } from "@effect/platform-node"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as Provider from "@tokenfx/http/Provider"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenSource from "@tokenfx/http/TokenSource"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import type * as Dialect from "@tokenfx/testing/Dialect"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** The real provider's client and a refresh token for it, read from the environment. */
export interface Real {
  readonly profile: Provider.Profile
  readonly refreshToken: Redacted.Redacted<string>
}

export interface Example {
  readonly name: string
  /** The profile against the dialect server at `issuer`. */
  readonly simulated: (issuer: string) => Provider.Profile
  readonly dialect: Dialect.Dialect
  readonly issuer: string
  readonly server?: Omit<AuthorizationServer.Options, "dialect" | "issuer"> | undefined
  /** `None` unless the provider's environment variables are set. */
  readonly real: Effect.Effect<Option.Option<Real>, ConfigError.ConfigError>
}

const describe = (token: Token.Token, now: DateTime.Utc): string => {
  const inSeconds = (at: DateTime.Utc | undefined) =>
    at === undefined ? "never" : `in ${Math.round(DateTime.distance(now, at) / 1000)} s`
  return `access token ${String(token.accessToken)}, expires ${inSeconds(token.expiresAt)}, refresh token ${
    token.refreshToken === undefined ? "none" : String(token.refreshToken)
  } (expires ${inSeconds(token.refreshTokenExpiresAt)}), scopes [${token.scopes.join(" ")}]`
}

// The manager's part, whatever the server.
const lifecycle = (profile: Provider.Profile, first: Token.Token, disconnect: boolean) =>
  Effect.gen(function*() {
    const endpoint = yield* Provider.make(profile)
    const manager = yield* TokenManager.makeWithSource().pipe(
      Effect.provideService(TokenStore.TokenStore, yield* TokenStore.makeMemory),
      Effect.provideService(TokenSource.TokenSource, Provider.source(profile, endpoint))
    )
    yield* manager.set("user", first)
    const served = yield* manager.get("user")
    yield* Console.log(`served: ${describe(served, yield* DateTime.now)}`)
    // As after a 401 from the API: the next get refreshes.
    yield* manager.invalidate("user", served)
    const refreshed = yield* manager.get("user")
    yield* Console.log(`refreshed: ${describe(refreshed, yield* DateTime.now)}`)
    yield* Console.log(`refresh token rotated: ${!Token.sameRefreshToken(first, refreshed)}`)
    if (disconnect) {
      const revocation = yield* manager.revoke("user")
      yield* Console.log(`disconnect: ${revocation._tag}`)
    }
  })

/** Runs the example: against the real provider when its environment is set, else the dialect server. */
export const run = (example: Example) =>
  Effect.gen(function*() {
    const real = yield* example.real
    if (Option.isSome(real)) {
      yield* Console.log(`${example.name}: the real provider, with the refresh token from the environment`)
      // An access token already expired: the first get refreshes it.
      const token = new Token.Token({
        accessToken: Redacted.make("expired"),
        tokenType: "Bearer",
        refreshToken: real.value.refreshToken,
        issuedAt: DateTime.unsafeMake(0),
        expiresAt: DateTime.unsafeMake(0),
        scopes: []
      })
      return yield* lifecycle(real.value.profile, token, false).pipe(Effect.provide(NodeHttpClient.layerUndici))
    }
    yield* Console.log(`${example.name}: the ${example.dialect.name} dialect of the in-memory server`)
    const server = yield* AuthorizationServer.make({
      ...example.server,
      dialect: example.dialect,
      issuer: example.issuer
    })
    const profile = example.simulated(server.issuer)
    const login = Effect.gen(function*() {
      const endpoint = yield* Provider.make(profile)
      const request = yield* endpoint.authorizationUrl({ redirectUri: "http://127.0.0.1:8765/callback" })
      yield* Console.log(`login at ${request.url.split("?")[0]}`)
      const callback = yield* server.authorize(request.url)
      return yield* endpoint.authorizationCode({
        code: Redacted.make(callback.code),
        verifier: request.verifier,
        redirectUri: request.redirectUri
      })
    })
    yield* Effect.flatMap(login, (token) => lifecycle(profile, token, true)).pipe(
      Effect.provideService(HttpClient.HttpClient, server.httpClient)
    )
  }).pipe(Effect.scoped)

/** `Some` when `first` is set (and then every variable `config` reads must be), `None` when it is not. */
export const fromEnv = <A>(first: string, config: Config.Config<A>) =>
  Effect.flatMap(
    Config.option(Config.string(first)),
    (set) => Option.isNone(set) ? Effect.succeed(Option.none<A>()) : Effect.map(config, Option.some)
  )
