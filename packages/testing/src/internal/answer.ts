/**
 * The vocabulary the in-memory server and its provider dialects share: an answer on its way out, what
 * a dialect knows of the request, and what a dialect's own routes may do to the server. A leaf, so
 * that neither `Dialect` nor the server's modules import each other for it.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Effect from "effect/Effect"

export type Endpoint = "authorization" | "token" | "revocation" | "introspection" | "device_authorization" | "resource"

export interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly headers?: Readonly<Record<string, string>> | undefined
}

export interface Context {
  readonly endpoint: Exclude<Endpoint, "authorization">
  readonly now: number
  readonly grantType: string | undefined
  readonly accept: string | undefined
  /** The refresh token lifetime the server was given, in milliseconds. */
  readonly refreshTokenTtl: number | undefined
}

export interface ServerAccess {
  /** The client id of valid Basic credentials, else `undefined`. */
  readonly authenticateBasic: (authorization: string | undefined) => string | undefined
  /** Revokes the grant of an access token issued to `clientId`; `false` when there is none. */
  readonly revokeGrantOf: (clientId: string, accessToken: string) => boolean
}

export type Route = (
  request: HttpClientRequest.HttpClientRequest,
  url: URL,
  server: ServerAccess
) => Effect.Effect<Answer> | undefined
