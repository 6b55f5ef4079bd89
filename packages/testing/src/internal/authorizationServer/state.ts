/**
 * The in-memory server's state: its resolved configuration, the tokens, codes and device codes it
 * issued, the faults it was told to answer with, and its counters. Every other module of the server
 * reads and writes this one value.
 */
import type * as Duration from "effect/Duration"
import * as Encoding from "effect/Encoding"
import type * as Redacted from "effect/Redacted"
import type * as Dialect from "../../Dialect.js"
import type { Answer, Endpoint } from "../answer.js"

/** @internal */
export const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

/** @internal */
export const supportedGrants: ReadonlyArray<string> = [
  "authorization_code",
  "refresh_token",
  "client_credentials",
  deviceGrant
]

/**
 * A registered client with its defaults applied.
 *
 * @internal
 */
export interface Client {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string> | undefined
  readonly authMethods: ReadonlyArray<string>
  readonly grantTypes: ReadonlyArray<string>
  /** Allowed scopes, space-delimited; `undefined` allows any. */
  readonly scope: string | undefined
  readonly redirectUris: ReadonlyArray<string> | undefined
}

/**
 * Everything the server answers on: the OAuth endpoints, the authorization endpoint and the metadata.
 *
 * @internal
 */
export type Route = Endpoint | "metadata" | "openid"

/**
 * The server's settings, resolved: durations in milliseconds, paths with the dialect's applied.
 *
 * @internal
 */
export interface Config {
  readonly issuer: string
  readonly origin: string
  readonly clients: ReadonlyArray<Client>
  /** `Infinity` when access tokens do not expire. */
  readonly accessTtl: number
  readonly refreshTtl: number | undefined
  readonly codeTtl: number
  readonly deviceTtl: number
  readonly deviceInterval: number
  readonly latency: Duration.Duration | undefined
  readonly rotate: boolean
  readonly dialect: Dialect.Dialect | undefined
  readonly paths: Readonly<Record<Route, string>>
}

/** @internal */
export interface Grant {
  readonly id: string
  readonly clientId: string
  readonly subject: string | undefined
  readonly scope: ReadonlyArray<string>
}

/** @internal */
export interface AccessToken {
  readonly grant: Grant
  readonly scope: ReadonlyArray<string>
  readonly issuedAt: number
  readonly expiresAt: number
}

/** @internal */
export interface RefreshToken {
  readonly grant: Grant
  readonly issuedAt: number
  readonly expiresAt: number | undefined
  consumed: boolean
  consumedAt?: number
  /** The refresh token its rotation issued first. */
  successor?: string
}

/** @internal */
export interface Code {
  readonly clientId: string
  readonly subject: string
  readonly scope: ReadonlyArray<string>
  readonly redirectUri: string | undefined
  readonly challenge: string | undefined
  readonly expiresAt: number
  /** The dialect withholds a refresh token (Google without `access_type=offline`). */
  readonly offline: boolean
  /** Set once exchanged, so that a replay revokes what it gave. */
  grant: Grant | undefined
  used: boolean
}

/** @internal */
export interface DeviceCode {
  readonly clientId: string
  readonly userCode: string
  readonly scope: ReadonlyArray<string>
  readonly expiresAt: number
  interval: number
  lastPoll: number | undefined
  decision: { readonly subject: string } | "denied" | "used" | undefined
}

/**
 * An answer forced by `failNext`, to the next `remaining` requests to `endpoint`.
 *
 * @internal
 */
export interface Fault {
  remaining: number
  readonly endpoint: Exclude<Endpoint, "authorization">
  readonly answer: Answer
  readonly delay: Duration.DurationInput | undefined
}

/** @internal */
export interface Counters {
  readonly tokenRequests: Record<string, number>
  readonly tokensIssued: Record<string, number>
  readonly errors: Record<string, number>
  /** Requests by endpoint, the token endpoint aside (counted by grant type). */
  readonly requests: Record<string, number>
  forcedFailures: number
}

/** @internal */
export interface State {
  readonly config: Config
  readonly accessTokens: Map<string, AccessToken>
  readonly refreshTokens: Map<string, RefreshToken>
  readonly codes: Map<string, Code>
  readonly deviceCodes: Map<string, DeviceCode>
  readonly faults: Array<Fault>
  readonly counters: Counters
}

/** @internal */
export const make = (config: Config): State => ({
  config,
  accessTokens: new Map(),
  refreshTokens: new Map(),
  codes: new Map(),
  deviceCodes: new Map(),
  faults: [],
  counters: { tokenRequests: {}, tokensIssued: {}, errors: {}, requests: {}, forcedFailures: 0 }
})

/** @internal */
export const url = (state: State, route: Route): string => `${state.config.issuer}${state.config.paths[route]}`

/** @internal */
export const increment = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1
}

/**
 * An OAuth error answer (RFC 6749 section 5.2), counted by its code.
 *
 * @internal
 */
export const error = (
  state: State,
  status: number,
  code: string,
  description: string,
  headers?: Record<string, string>
): Answer => {
  increment(state.counters.errors, code)
  return { status, body: { error: code, error_description: description }, headers }
}

/** @internal */
export const randomToken = (prefix: string): string =>
  `${prefix}_${Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(24)))}`

/** @internal */
export const findClient = (state: State, clientId: string | undefined): Client | undefined =>
  state.config.clients.find((client) => client.clientId === clientId)

/**
 * Drops every access and refresh token of a grant.
 *
 * @internal
 */
export const revokeGrant = (state: State, grantId: string): void => {
  for (const [value, token] of state.accessTokens) if (token.grant.id === grantId) state.accessTokens.delete(value)
  for (const [value, token] of state.refreshTokens) if (token.grant.id === grantId) state.refreshTokens.delete(value)
}

/** @internal */
export const revokeAll = (state: State): void => {
  state.accessTokens.clear()
  state.refreshTokens.clear()
  state.codes.clear()
  state.deviceCodes.clear()
}
