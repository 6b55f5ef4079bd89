import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Token from "@tokenfx/core/Token"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as Discovery from "../Discovery.js"
import * as IdToken from "../IdToken.js"
import * as Jwks from "../Jwks.js"
import type * as transport from "./transport.js"

/**
 * What a token endpoint client needs to verify the ID tokens it receives.
 *
 * @internal
 */
export interface Options {
  readonly issuer?: string | undefined
  readonly clientId: string
  readonly jwksUri?: string | undefined
  readonly idToken?: IdToken.Policy | false | undefined
  readonly allowInsecureHttp?: boolean | undefined
}

/** @internal */
export interface Check {
  readonly nonce?: string | null | undefined
  readonly code?: Redacted.Redacted<string> | undefined
  readonly maxAge?: number | undefined
  /** The token refreshed: its subject binds the new ID token (OpenID Connect Core section 12.2). */
  readonly previous?: Token.Token | undefined
}

/**
 * The `max_age` an authorization request URL asked for, if any.
 *
 * @internal
 */
export const maxAgeOf = (url: string): number | undefined => {
  const value = URL.canParse(url) ? new URL(url).searchParams.get("max_age") : null
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined
}

/** @internal */
export type Verifier = (token: Token.Token, check: Check) => Effect.Effect<Token.Token, IdToken.VerifyError>

const unverifiable = (description: string) => new IdToken.InvalidIdToken({ reason: "Unverifiable", description })

/**
 * Verifies every ID token a grant returns, unless `idToken` is `false`. The key set comes from
 * `jwksUri`, or from the issuer's OpenID Connect metadata, read once when the first ID token arrives.
 *
 * @internal
 */
export const make = (
  options: Options,
  settings: transport.Settings
): Effect.Effect<Verifier, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const policy = options.idToken
    if (policy === false) return (token) => Effect.succeed(token)
    const issuer = options.issuer
    const context = yield* Effect.context<HttpClient.HttpClient>()
    const jwksFor = (uri: string) =>
      Jwks.make({
        uri,
        timeout: settings.timeout,
        maxBodySize: settings.maxBodySize,
        allowInsecureHttp: options.allowInsecureHttp
      }).pipe(
        Effect.provide(context)
      )
    const find: Effect.Effect<Jwks.Jwks, IdToken.VerifyError> = options.jwksUri !== undefined
      ? jwksFor(options.jwksUri)
      : issuer === undefined
      ? Effect.fail(unverifiable("no issuer is configured to verify it against"))
      : Discovery.discover(issuer, {
        kind: "openid-configuration",
        timeout: settings.timeout,
        maxBodySize: settings.maxBodySize,
        allowInsecureHttp: options.allowInsecureHttp
      }).pipe(
        Effect.provide(context),
        Effect.catchTag(
          "IssuerMismatch",
          () => Effect.fail(unverifiable("the issuer's metadata names another issuer"))
        ),
        Effect.flatMap((metadata) =>
          metadata.jwks_uri === undefined
            ? Effect.fail(unverifiable("the issuer publishes no jwks_uri"))
            : jwksFor(metadata.jwks_uri)
        )
      )
    // Found once; a failure (the issuer unreachable) is not remembered.
    const found = yield* SynchronizedRef.make<Jwks.Jwks | undefined>(undefined)
    const jwks = SynchronizedRef.modifyEffect(found, (known) =>
      known !== undefined
        ? Effect.succeed([known, known] as const)
        : Effect.map(find, (keys) => [keys, keys] as const))
    return (token, check) => {
      if (token.idToken === undefined) return Effect.succeed(token)
      if (issuer === undefined) return Effect.fail(unverifiable("no issuer is configured to verify it against"))
      return Effect.flatMap(jwks, (keys) =>
        IdToken.verifyToken(keys, token, {
          ...policy,
          issuer,
          clientId: options.clientId,
          nonce: check.nonce,
          code: check.code,
          maxAge: check.maxAge,
          subject: check.previous?.idTokenClaims?.sub
        }))
    }
  })
