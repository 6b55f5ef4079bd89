import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as TokenEndpoint from "../../TokenEndpoint.js"
import type * as TokenEndpointError from "../../TokenEndpointError.js"

/**
 * A revocation the provider does its own way (GitHub's REST API), given the client to send it with.
 *
 * Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed).
 */
export type Revoke = (
  client: HttpClient.HttpClient
) => (
  token: Redacted.Redacted<string>,
  hint?: "access_token" | "refresh_token" | undefined
) => Effect.Effect<void, TokenEndpointError.RevocationError>

/**
 * What a provider needs besides the RFCs (see `Provider.Profile`).
 *
 * Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed).
 */
export interface Profile {
  readonly name: string
  readonly endpoint: TokenEndpoint.Options
  readonly scope?: ReadonlyArray<string> | undefined
  readonly clientCredentialsScope?: ReadonlyArray<string> | undefined
  readonly audience?: string | undefined
  readonly authorizationParameters?: Readonly<Record<string, string>> | undefined
  readonly refreshScope?: boolean | undefined
  readonly revokeWith?: "access_token" | "refresh_token" | undefined
  readonly revoke?: Revoke | undefined
}

/**
 * The options every profile takes.
 *
 * Left public: `Provider`'s public types extend it, so its declaration ships (the module path stays closed).
 */
export interface ClientOptions {
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly scope?: ReadonlyArray<string> | undefined
  /** Anything else of the token endpoint's options (timeout, backoff, and, for tests, `allowInsecureHttp`). */
  readonly endpoint?: Partial<TokenEndpoint.Options> | undefined
}

/**
 * The base of a profile's endpoint options.
 *
 * @internal
 */
export const endpointOptions = (
  options: ClientOptions,
  endpoints: Omit<TokenEndpoint.Options, "clientId" | "clientSecret">
): TokenEndpoint.Options => ({
  ...endpoints,
  clientId: options.clientId,
  clientSecret: options.clientSecret,
  ...options.endpoint
})

/**
 * `scope` with `extra` added where missing.
 *
 * @internal
 */
export const withScopes = (scope: ReadonlyArray<string>, extra: ReadonlyArray<string>): ReadonlyArray<string> => [
  ...scope,
  ...extra.filter((s) => !scope.includes(s))
]

/**
 * A URL without its trailing slashes.
 *
 * @internal
 */
export const trim = (url: string): string => url.replace(/\/+$/, "")
