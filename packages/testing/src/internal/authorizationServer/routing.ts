/**
 * The server on the wire: which route a request is for, the forced answers, the request counters, the
 * dispatch to each endpoint, the dialect's reshaping, and the `HttpClientResponse` sent back.
 */
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { Answer, ServerAccess } from "../answer.js"
import * as ClientAuthentication from "./clientAuthentication.js"
import * as DeviceFlow from "./deviceFlow.js"
import * as Faults from "./faults.js"
import * as Form from "./form.js"
import * as Grants from "./grants.js"
import * as Metadata from "./metadata.js"
import * as Resource from "./resource.js"
import * as Revocation from "./revocation.js"
import type { Route, State } from "./state.js"
import { error, increment, revokeGrant } from "./state.js"

/**
 * The standard paths under the issuer, before a dialect moves them.
 *
 * @internal
 */
export const defaultPaths: Readonly<Record<Route, string>> = {
  authorization: "/authorize",
  token: "/token",
  revocation: "/revoke",
  introspection: "/introspect",
  device_authorization: "/device_authorization",
  resource: "/resource",
  metadata: "/.well-known/oauth-authorization-server",
  openid: "/.well-known/openid-configuration"
}

type OAuthEndpoint = Exclude<Route, "authorization" | "metadata" | "openid">

const routeOf = (state: State, url: URL): Route | undefined => {
  const { issuer, origin, paths } = state.config
  if (url.origin !== origin) return undefined
  const prefix = new URL(issuer).pathname.replace(/\/+$/, "")
  for (const [name, path] of Object.entries(paths)) {
    if (url.pathname === `${prefix}${path}`) return name as Route
  }
  return undefined
}

const count = (state: State, endpoint: OAuthEndpoint, form: Form.Form | undefined): void => {
  if (endpoint === "token") increment(state.counters.tokenRequests, form?.get("grant_type") ?? "")
  else increment(state.counters.requests, endpoint)
}

// What a dialect's own routes may do.
const access = (state: State): ServerAccess => ({
  authenticateBasic: (authorization) => ClientAuthentication.authenticateBasic(state, authorization),
  revokeGrantOf: (clientId, accessToken) => {
    const token = state.accessTokens.get(accessToken)
    if (token === undefined || token.grant.clientId !== clientId) return false
    revokeGrant(state, token.grant.id)
    return true
  }
})

const dispatch = (
  state: State,
  endpoint: OAuthEndpoint,
  request: HttpClientRequest.HttpClientRequest,
  form: Form.Form | undefined,
  now: number
): Effect.Effect<Answer> => {
  if (endpoint === "resource") return Effect.sync(() => Resource.answer(state, request, now))
  if (request.method !== "POST") {
    return Effect.succeed(error(state, 405, "invalid_request", "use POST", { allow: "POST" }))
  }
  if (form === undefined) {
    return Effect.succeed(error(state, 400, "invalid_request", "expected an application/x-www-form-urlencoded body"))
  }
  const repeated = Form.repeated(form)
  if (repeated !== undefined) {
    return Effect.succeed(error(state, 400, "invalid_request", `parameter ${repeated} is repeated`))
  }
  const client = ClientAuthentication.authenticate(state, request, form)
  if (Either.isLeft(client)) return Effect.succeed(client.left)
  switch (endpoint) {
    case "token":
      return Grants.token(state, client.right, form, now)
    case "revocation":
      return Effect.sync(() => Revocation.revoke(state, client.right, form))
    case "introspection":
      return Effect.sync(() => Revocation.introspect(state, client.right, form, now))
    case "device_authorization":
      return Effect.sync(() => DeviceFlow.authorization(state, client.right, form, now))
  }
}

/**
 * The `HttpClientResponse` of an answer: a string body as is (`text/html` when it starts with `<`),
 * anything else as JSON, no body when there is none.
 *
 * @internal
 */
export const respond = (
  request: HttpClientRequest.HttpClientRequest,
  answer: Answer
): HttpClientResponse.HttpClientResponse => {
  const headers = new Headers(answer.headers)
  let body: string | null = null
  if (typeof answer.body === "string") {
    body = answer.body
    if (!headers.has("content-type")) {
      headers.set("content-type", answer.body.trimStart().startsWith("<") ? "text/html; charset=utf-8" : "text/plain")
    }
  } else if (answer.body !== undefined) {
    body = JSON.stringify(answer.body)
    if (!headers.has("content-type")) headers.set("content-type", "application/json")
  }
  return HttpClientResponse.fromWeb(request, new Response(body, { status: answer.status, headers }))
}

/**
 * Answers a request sent through the server's `HttpClient`.
 *
 * @internal
 */
export const handle = (
  state: State,
  request: HttpClientRequest.HttpClientRequest,
  url: URL
): Effect.Effect<HttpClientResponse.HttpClientResponse> =>
  Effect.gen(function*() {
    const { dialect, latency, refreshTtl } = state.config
    const own = dialect?.route?.(request, url, access(state))
    if (own !== undefined) return respond(request, yield* own)
    const route = routeOf(state, url)
    if (route === undefined) return respond(request, { status: 404, body: { error: "not_found" } })
    if (route === "metadata" || route === "openid") {
      return respond(request, { status: 200, body: Metadata.document(state) })
    }
    if (route === "authorization") {
      // There is no login page: tests call `authorize`.
      return respond(request, { status: 400, body: "<html><body>use AuthorizationServer.authorize</body></html>" })
    }
    const form = route === "resource" ? new Map<string, string>() : yield* Form.read(request)
    count(state, route, form)
    const forced = Faults.take(state, route)
    if (latency !== undefined) yield* Effect.sleep(latency)
    if (forced?.delay !== undefined) yield* Effect.sleep(forced.delay)
    const now = yield* Clock.currentTimeMillis
    const answer = forced?.answer ?? (yield* dispatch(state, route, request, form, now))
    const shape = dialect?.answer
    return respond(
      request,
      shape === undefined ? answer : shape(answer, {
        endpoint: route,
        now,
        grantType: form?.get("grant_type"),
        accept: request.headers["accept"],
        refreshTokenTtl: refreshTtl
      })
    )
  })
