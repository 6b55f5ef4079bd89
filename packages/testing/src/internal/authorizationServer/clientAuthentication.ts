/**
 * Client authentication (RFC 6749 section 2.3): `client_secret_basic`, `client_secret_post` or `none`,
 * exactly one per request, and the defaults of a client registration.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import type { Answer } from "../answer.js"
import type { Form } from "./form.js"
import type { Client, State } from "./state.js"
import { error, findClient, supportedGrants } from "./state.js"

/**
 * A registration as a test writes it: any field but the id may be left out.
 *
 * @internal
 */
export type Registration = { readonly [K in keyof Client]?: Client[K] | undefined } & { readonly clientId: string }

/**
 * A registration with its defaults: a client without a secret is public (`none`, and no client
 * credentials grant).
 *
 * @internal
 */
export const client = (registration: Registration): Client => {
  const confidential = registration.clientSecret !== undefined
  return {
    clientId: registration.clientId,
    clientSecret: registration.clientSecret,
    authMethods: registration.authMethods ??
      (confidential ? ["client_secret_basic", "client_secret_post"] : ["none"]),
    grantTypes: registration.grantTypes ??
      (confidential ? supportedGrants : supportedGrants.filter((grant) => grant !== "client_credentials")),
    scope: registration.scope,
    redirectUris: registration.redirectUris
  }
}

/**
 * The credentials of an `Authorization: Basic` header, each part form-urlencoded before encoding
 * (RFC 6749 section 2.3.1).
 *
 * @internal
 */
export const parseBasic = (header: string): { readonly id: string; readonly secret: string } | undefined => {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)?.[1]
  if (encoded === undefined) return undefined
  const decoded = Encoding.decodeBase64String(encoded)
  if (Either.isLeft(decoded)) return undefined
  const colon = decoded.right.indexOf(":")
  if (colon < 0) return undefined
  const unescape = (part: string) => {
    try {
      return decodeURIComponent(part.replace(/\+/g, " "))
    } catch {
      return undefined
    }
  }
  const id = unescape(decoded.right.slice(0, colon))
  const secret = unescape(decoded.right.slice(colon + 1))
  return id === undefined || secret === undefined ? undefined : { id, secret }
}

const secretMatches = (client: Client, secret: string): boolean =>
  client.clientSecret !== undefined && Redacted.value(client.clientSecret) === secret

/**
 * The client of valid Basic credentials, for a dialect's own routes.
 *
 * @internal
 */
export const authenticateBasic = (state: State, authorization: string | undefined): string | undefined => {
  const basic = authorization === undefined ? undefined : parseBasic(authorization)
  const client = basic === undefined ? undefined : findClient(state, basic.id)
  return client !== undefined && basic !== undefined && secretMatches(client, basic.secret)
    ? client.clientId
    : undefined
}

/**
 * The client a request authenticates as, or the error answer.
 *
 * @internal
 */
export const authenticate = (
  state: State,
  request: HttpClientRequest.HttpClientRequest,
  form: Form
): Either.Either<Client, Answer> => {
  const authorization = request.headers["authorization"]
  const basic = authorization === undefined ? undefined : parseBasic(authorization)
  const unauthorized = (description: string) =>
    Either.left(
      error(
        state,
        401,
        "invalid_client",
        description,
        basic === undefined ? undefined : { "www-authenticate": `Basic realm="${state.config.issuer}"` }
      )
    )
  if (authorization !== undefined && basic === undefined) return unauthorized("malformed Basic credentials")
  if (
    basic !== undefined && (form.has("client_secret") || form.has("client_id") && form.get("client_id") !== basic.id)
  ) {
    return Either.left(error(state, 400, "invalid_request", "more than one client authentication method"))
  }
  const method = basic !== undefined
    ? "client_secret_basic"
    : form.has("client_secret")
    ? "client_secret_post"
    : "none"
  const clientId = basic?.id ?? form.get("client_id")
  if (clientId === undefined) return unauthorized("no client authentication")
  const client = findClient(state, clientId)
  if (client === undefined) return unauthorized("unknown client")
  if (!client.authMethods.includes(method)) {
    return unauthorized(`client authentication ${method} is not allowed for this client`)
  }
  if (method !== "none" && !secretMatches(client, basic?.secret ?? form.get("client_secret") ?? "")) {
    return unauthorized("wrong client secret")
  }
  return Either.right(client)
}
