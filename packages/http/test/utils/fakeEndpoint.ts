/**
 * A scripted authorization server behind a fake `TokenEndpoint`, on `Clock` (so on `TestClock` in
 * tests): grants with rotating refresh tokens, reuse detection, latency, scripted failures, and a
 * resource check for the access tokens it issued.
 */
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import { TokenEndpoint } from "@tokenfx/http/TokenEndpoint"
import type * as TokenEndpointModule from "@tokenfx/http/TokenEndpoint"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

export interface FakeServerOptions {
  /** Access token lifetime in seconds (default 60); `undefined`-like 0 issues tokens without expiry. */
  readonly accessTokenTtl?: number
  /** How long each grant takes, on `Clock` (default 0). */
  readonly latency?: Duration.DurationInput
  /** Rotate refresh tokens on refresh (default true). */
  readonly rotate?: boolean
  /** A stale refresh token revokes the whole grant, as oidc-provider does (default true). */
  readonly reuseRevokesGrant?: boolean
}

interface Grant {
  readonly id: string
  generation: number
  refreshToken: string
  accessToken: string
  accessExpiresAt: number
  revoked: boolean
}

export interface FakeServer {
  readonly endpoint: TokenEndpoint["Type"]
  readonly layer: Layer.Layer<TokenEndpoint>
  /** A login: a new grant and its first token. */
  readonly login: (grantId: string) => Effect.Effect<Token.Token>
  /** Another holder refreshes the grant directly at the server (a rotation the manager did not see). */
  readonly rotate: (grantId: string) => Effect.Effect<Token.Token>
  /** Revokes a grant server-side. */
  readonly revokeGrant: (grantId: string) => Effect.Effect<void>
  /** Fails the next `times` grants with `error`. */
  readonly failNext: (error: TokenEndpointModule.GrantError, times?: number) => Effect.Effect<void>
  /** Runs before the next refresh is answered (once). */
  readonly beforeNextRefresh: (effect: Effect.Effect<unknown, unknown>) => Effect.Effect<void>
  /** Makes resource servers reject one access token (as after a server-side revocation). */
  readonly rejectAccessToken: (accessToken: string) => Effect.Effect<void>
  /** Whether a resource server would accept this access token now. */
  readonly accepts: (accessToken: string) => Effect.Effect<boolean>
  readonly stats: {
    /** Refresh grants received (successful or not). */
    readonly refreshCalls: number
    /** Refresh grants that presented a refresh token already rotated away. */
    readonly staleRefreshTokens: number
    readonly clientCredentialsCalls: number
    readonly revocations: ReadonlyArray<{ readonly token: string; readonly hint: string | undefined }>
    /** Every refresh token presented, in order. */
    readonly presented: ReadonlyArray<string>
  }
}

export const makeFakeServer = (options: FakeServerOptions = {}): FakeServer => {
  const ttl = options.accessTokenTtl ?? 60
  const rotateTokens = options.rotate ?? true
  const reuseRevokes = options.reuseRevokesGrant ?? true
  const grants = new Map<string, Grant>()
  // Every refresh token ever issued, to its grant.
  const byRefreshToken = new Map<string, Grant>()
  const failures: Array<TokenEndpointModule.GrantError> = []
  const hooks: Array<Effect.Effect<unknown, unknown>> = []
  const rejectedAccessTokens = new Set<string>()
  const stats = {
    refreshCalls: 0,
    staleRefreshTokens: 0,
    clientCredentialsCalls: 0,
    revocations: [] as Array<{ readonly token: string; readonly hint: string | undefined }>,
    presented: [] as Array<string>
  }
  let clientTokens = 0

  const latency = options.latency === undefined ? Effect.void : Effect.sleep(options.latency)

  const response = (grant: Grant, includeRefresh: boolean): Token.TokenResponse => ({
    access_token: Redacted.make(grant.accessToken),
    token_type: "Bearer",
    ...(ttl > 0 ? { expires_in: ttl } : {}),
    ...(includeRefresh ? { refresh_token: Redacted.make(grant.refreshToken) } : {}),
    scope: "api:read"
  })

  const issue = (grant: Grant, now: number) => {
    grant.generation += 1
    grant.accessToken = `at-${grant.id}-${grant.generation}`
    grant.accessExpiresAt = ttl > 0 ? now + ttl * 1000 : Infinity
    if (rotateTokens || grant.generation === 1) {
      grant.refreshToken = `rt-${grant.id}-${grant.generation}`
      byRefreshToken.set(grant.refreshToken, grant)
    }
  }

  const nextFailure = Effect.suspend(() => {
    const failure = failures.shift()
    return failure === undefined ? Effect.void : Effect.fail(failure)
  })

  const login = (grantId: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const grant: Grant = {
        id: grantId,
        generation: 0,
        refreshToken: "",
        accessToken: "",
        accessExpiresAt: 0,
        revoked: false
      }
      grants.set(grantId, grant)
      issue(grant, now)
      return Token.make(response(grant, true), now)
    })

  const rotate = (grantId: string) =>
    Effect.gen(function*() {
      const grant = grants.get(grantId)!
      const now = yield* Clock.currentTimeMillis
      issue(grant, now)
      return Token.make(response(grant, true), now)
    })

  const unscripted = Effect.dieMessage("not scripted in the fake endpoint")
  const endpoint = TokenEndpoint.of({
    authorizationUrl: () => unscripted,
    exchangeCode: () => unscripted,
    authorizationCode: () => unscripted,
    deviceAuthorization: () => unscripted,
    pollDeviceToken: () => unscripted,
    grant: () => unscripted,
    tokenExchange: () => unscripted,
    jwtBearer: () => unscripted,
    introspect: () => unscripted,
    refresh: (token) =>
      Effect.gen(function*() {
        stats.refreshCalls += 1
        const presented = token.refreshToken === undefined ? "" : Redacted.value(token.refreshToken)
        stats.presented.push(presented)
        yield* latency
        const hook = hooks.shift()
        if (hook !== undefined) yield* Effect.orDie(hook)
        yield* nextFailure
        const grant = byRefreshToken.get(presented)
        if (grant === undefined || grant.revoked) {
          return yield* new OAuthError.InvalidGrant({ description: "grant not found", status: 400 })
        }
        if (grant.refreshToken !== presented) {
          stats.staleRefreshTokens += 1
          if (reuseRevokes) grant.revoked = true
          return yield* new OAuthError.InvalidGrant({ description: "refresh token already used", status: 400 })
        }
        const now = yield* Clock.currentTimeMillis
        issue(grant, now)
        return Token.rotateAt(token, response(grant, rotateTokens), now)
      }),
    clientCredentials: () =>
      Effect.gen(function*() {
        stats.clientCredentialsCalls += 1
        yield* latency
        yield* nextFailure
        const now = yield* Clock.currentTimeMillis
        clientTokens += 1
        return Token.make({
          access_token: Redacted.make(`cc-${clientTokens}`),
          token_type: "Bearer",
          ...(ttl > 0 ? { expires_in: ttl } : {})
        }, now)
      }),
    revoke: (token, hint) =>
      Effect.sync(() => {
        const value = Redacted.value(token)
        stats.revocations.push({ token: value, hint })
        const grant = byRefreshToken.get(value)
        if (grant !== undefined) grant.revoked = true
      })
  })

  return {
    endpoint,
    layer: Layer.succeed(TokenEndpoint, endpoint),
    login,
    rotate,
    revokeGrant: (grantId) =>
      Effect.sync(() => {
        const grant = grants.get(grantId)
        if (grant !== undefined) grant.revoked = true
      }),
    failNext: (error, times = 1) =>
      Effect.sync(() => {
        for (let i = 0; i < times; i++) failures.push(error)
      }),
    beforeNextRefresh: (effect) => Effect.sync(() => hooks.push(effect)),
    rejectAccessToken: (accessToken) => Effect.sync(() => rejectedAccessTokens.add(accessToken)),
    accepts: (accessToken) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        if (rejectedAccessTokens.has(accessToken)) return false
        for (const grant of grants.values()) {
          if (grant.accessToken === accessToken) return !grant.revoked && now < grant.accessExpiresAt
        }
        return accessToken.startsWith("cc-")
      }),
    stats
  }
}

/** A 60-second token issued at `issuedAt` (ms) with the given access and refresh tokens. */
export const tokenAt = (
  issuedAt: number,
  accessToken: string,
  refreshToken?: string,
  expiresIn: Duration.DurationInput = "60 seconds"
): Token.Token =>
  Token.make({
    access_token: Redacted.make(accessToken),
    token_type: "Bearer",
    expires_in: Duration.toSeconds(expiresIn),
    ...(refreshToken === undefined ? {} : { refresh_token: Redacted.make(refreshToken) })
  }, issuedAt)
