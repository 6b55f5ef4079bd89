/**
 * Claims challenges (Microsoft Entra ID's Continuous Access Evaluation and Conditional Access): a 401
 * with `WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64 JSON>"` is answered by a
 * new authorization request carrying the decoded claims, never by a refresh. From:
 * - https://learn.microsoft.com/entra/identity-platform/claims-challenge ("Claims challenges, claims
 *   requests and client capabilities": the header format, its example, the `claims` request parameter)
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as ErrorResponse from "@tokenfx/core/ErrorResponse"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as AuthorizationCode from "@tokenfx/http/AuthorizationCode"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as TokenManagerPromise from "@tokenfx/http/TokenManagerPromise"
import * as Effect from "effect/Effect"
import { access, login, makeServer, managerFor, requests } from "./utils/authorizationServer.js"

const ORIGIN = "https://graph.example.com"

// The example of Microsoft's page: {"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}
const EXAMPLE = "eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0="
const DECODED = `{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}`

const challenge = (claims: string | undefined, description = "") =>
  `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", ` +
  `error="insufficient_claims"${claims === undefined ? "" : `, claims="${claims}"`}` +
  (description === "" ? "" : `, error_description="${description}"`)

// A resource answering every request with a claims challenge built from the token it was sent.
const setup = (header: (accessToken: string) => string) =>
  Effect.gen(function*() {
    const server = yield* makeServer()
    const { manager } = yield* managerFor(server)
    const token = yield* login(server)
    yield* manager.set("alice", token)
    const sent: Array<string> = []
    const answer = (accessToken: string) =>
      new Response(null, { status: 401, headers: { "www-authenticate": header(accessToken) } })
    const client = HttpClient.make((request: HttpClientRequest.HttpClientRequest) => {
      const accessToken = (request.headers["authorization"] ?? "").replace(/^Bearer /, "")
      sent.push(accessToken)
      return Effect.succeed(HttpClientResponse.fromWeb(request, answer(accessToken)))
    })
    const fetch = async (_: string | URL | Request, init?: RequestInit) => {
      const accessToken = (new Headers(init?.headers).get("authorization") ?? "").replace(/^Bearer /, "")
      sent.push(accessToken)
      return answer(accessToken)
    }
    return { server, manager, token: access(token), sent, client, fetch }
  })

const promiseOf = (manager: TokenManager.TokenManager["Type"]) =>
  Effect.map(
    Effect.runtime<TokenManager.TokenManager>().pipe(Effect.provideService(TokenManager.TokenManager, manager)),
    TokenManagerPromise.fromRuntime
  )

describe("claims challenges", () => {
  it.scoped("AuthorizedClient: InsufficientClaims with the decoded claims; no invalidation, refresh or retry", () =>
    Effect.gen(function*() {
      const { client, manager, sent, server, token } = yield* setup((t) => challenge(EXAMPLE, `token ${t} revoked`))
      const authorized = AuthorizedClient.authorize(client, manager, { key: "alice", origin: ORIGIN })
      const error = yield* authorized.get(`${ORIGIN}/v1.0/me`).pipe(
        Effect.flatMap(() => Effect.dieMessage("expected a claims challenge")),
        Effect.catchTag("InsufficientClaims", Effect.succeed)
      )
      assert.instanceOf(error, OAuthError.InsufficientClaims)
      assert.isTrue(OAuthError.isOAuthError(error))
      assert.strictEqual(error.claims, DECODED)
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.endpoint, `${ORIGIN}/v1.0/me`)
      assert.strictEqual(error.disposition, "reauthenticate")
      assert.match(error.message, /re-authenticate asking for the claims: \{"access_token"/)
      // The token the server quoted is masked everywhere.
      assert.strictEqual(error.description, "token <redacted> revoked")
      assert.notInclude(JSON.stringify(error), token)
      assert.notInclude(String(error), token)
      assert.deepStrictEqual(sent, [token], "sent once, never retried")
      assert.strictEqual(yield* requests(server), 0, "no refresh")
      // Not invalidated: the same token is still the manager's.
      assert.strictEqual(access(yield* manager.get("alice")), token)
    }))

  it.scoped("authorizedFetch: rejects with InsufficientClaims; no invalidation, refresh or retry", () =>
    Effect.gen(function*() {
      const { fetch, manager, sent, server, token } = yield* setup((t) => challenge(EXAMPLE, `token ${t} revoked`))
      const tokens = yield* promiseOf(manager)
      const authorizedFetch = tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch })
      const error = yield* Effect.flip(
        Effect.tryPromise({ try: () => authorizedFetch(`${ORIGIN}/v1.0/me`), catch: (e) => e })
      )
      assert.instanceOf(error, OAuthError.InsufficientClaims)
      if (!(error instanceof OAuthError.InsufficientClaims)) return
      assert.strictEqual(error._tag, "InsufficientClaims")
      assert.strictEqual(error.claims, DECODED)
      assert.notInclude(JSON.stringify(error), token)
      assert.deepStrictEqual(sent, [token])
      assert.strictEqual(yield* requests(server), 0)
      assert.strictEqual(access(yield* manager.get("alice")), token)
    }))

  // RFC 6750 section 3.1 asks for a 403; servers that answer 401 mean the same thing, and a refresh
  // (never more scope than the grant has) cannot satisfy it either.
  const scopeChallenge = (t: string) =>
    `Bearer error="insufficient_scope", scope="api:admin", error_description="token ${t} lacks api:admin"`

  it.scoped("AuthorizedClient: a 401 naming insufficient_scope is InsufficientScope; no invalidation, refresh or retry", () =>
    Effect.gen(function*() {
      const { client, manager, sent, server, token } = yield* setup(scopeChallenge)
      const authorized = AuthorizedClient.authorize(client, manager, { key: "alice", origin: ORIGIN })
      const error = yield* Effect.flip(authorized.get(`${ORIGIN}/v1.0/me`))
      assert.strictEqual(error._tag, "InsufficientScope")
      if (error._tag !== "InsufficientScope") return
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.scope, "api:admin")
      assert.strictEqual(error.description, "token <redacted> lacks api:admin")
      assert.deepStrictEqual(sent, [token], "sent once, never retried")
      assert.strictEqual(yield* requests(server), 0, "no refresh")
      assert.strictEqual(access(yield* manager.get("alice")), token)
    }))

  it.scoped("authorizedFetch: a 401 naming insufficient_scope is InsufficientScope; no invalidation, refresh or retry", () =>
    Effect.gen(function*() {
      const { fetch, manager, sent, server, token } = yield* setup(scopeChallenge)
      const tokens = yield* promiseOf(manager)
      const authorizedFetch = tokens.authorizedFetch({ key: "alice", origin: ORIGIN, fetch })
      const error = yield* Effect.flip(
        Effect.tryPromise({ try: () => authorizedFetch(`${ORIGIN}/v1.0/me`), catch: (e) => e })
      )
      assert.instanceOf(error, OAuthError.InsufficientScope)
      if (!(error instanceof OAuthError.InsufficientScope)) return
      assert.strictEqual(error.status, 401)
      assert.strictEqual(error.scope, "api:admin")
      assert.notInclude(JSON.stringify(error), token)
      assert.deepStrictEqual(sent, [token])
      assert.strictEqual(yield* requests(server), 0)
      assert.strictEqual(access(yield* manager.get("alice")), token)
    }))

  it.scoped("malformed claims (not base64, not JSON, not an object, none): still InsufficientClaims, claims left out", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<string | undefined> = [
        "%%%not-base64%%%",
        btoa("not json"),
        btoa("[1,2]"),
        btoa("\xff\xfe{}"), // not UTF-8
        undefined
      ]
      for (const claims of cases) {
        const { client, manager, server } = yield* setup(() => challenge(claims))
        const authorized = AuthorizedClient.authorize(client, manager, { key: "alice", origin: ORIGIN })
        const exit = yield* Effect.exit(authorized.get(`${ORIGIN}/v1.0/me`))
        assert.isTrue(exit._tag === "Failure" && exit.cause._tag === "Fail", `a typed failure for ${claims}`)
        const error = yield* Effect.flip(authorized.get(`${ORIGIN}/v1.0/me`))
        assert.strictEqual(error._tag, "InsufficientClaims")
        if (error._tag !== "InsufficientClaims") continue
        assert.isUndefined(error.claims)
        assert.match(error.description ?? "", claims === undefined ? /carries no claims/ : /not base64-encoded JSON/)
        if (claims !== undefined) assert.notInclude(JSON.stringify(error), claims)
        assert.strictEqual(yield* requests(server), 0)
      }
    }))

  it.scoped("claims that quote the token have it masked", () =>
    Effect.gen(function*() {
      const { client, manager, token } = yield* setup((t) => challenge(btoa(`{"access_token":{"x":{"value":"${t}"}}}`)))
      const authorized = AuthorizedClient.authorize(client, manager, { key: "alice", origin: ORIGIN })
      const error = yield* Effect.flip(authorized.get(`${ORIGIN}/v1.0/me`))
      assert.strictEqual(
        error._tag === "InsufficientClaims" ? error.claims : undefined,
        `{"access_token":{"x":{"value":"<redacted>"}}}`
      )
      assert.notInclude(JSON.stringify(error), token)
    }))

  it("URL-safe base64 without padding decodes too", () => {
    const urlSafe = btoa(`{"id_token":{"acrs":{"essential":true,"value":"c1"}}}`).replace(/=+$/, "")
      .replace(/\+/g, "-").replace(/\//g, "_")
    const error = ErrorResponse.fromChallenge({
      scheme: "Bearer",
      params: { error: "insufficient_claims", claims: urlSafe }
    })
    assert.strictEqual(error?._tag, "InsufficientClaims")
    assert.strictEqual(
      error?._tag === "InsufficientClaims" ? error.claims : undefined,
      `{"id_token":{"acrs":{"essential":true,"value":"c1"}}}`
    )
  })

  it.effect("the claims go back in the authorization request's `claims` parameter", () =>
    Effect.gen(function*() {
      const error = ErrorResponse.fromChallenge({
        scheme: "Bearer",
        params: { error: "insufficient_claims", claims: EXAMPLE }
      })
      assert.strictEqual(error?._tag, "InsufficientClaims")
      if (error?._tag !== "InsufficientClaims" || error.claims === undefined) return
      const request = yield* AuthorizationCode.makeRequest(
        new URL("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
        "client",
        { redirectUri: "https://app.example/callback", scope: ["openid"], extra: { claims: error.claims } }
      )
      const url = new URL(request.url)
      assert.strictEqual(url.searchParams.get("claims"), DECODED)
      assert.deepStrictEqual(JSON.parse(url.searchParams.get("claims")!), JSON.parse(DECODED))
    }))

  it.effect("a challenge without claims: the parameter passed as undefined is left out, the endpoint's own query kept", () =>
    Effect.gen(function*() {
      const error = ErrorResponse.fromChallenge({ scheme: "Bearer", params: { error: "insufficient_claims" } })
      assert.strictEqual(error?._tag, "InsufficientClaims")
      if (error?._tag !== "InsufficientClaims") return
      assert.isUndefined(error.claims)
      const request = yield* AuthorizationCode.makeRequest(
        new URL("https://login.example/authorize?tenant=t1"),
        "client",
        { redirectUri: "https://app.example/callback", extra: { claims: error.claims, prompt: "login" } }
      )
      const url = new URL(request.url)
      assert.isFalse(url.searchParams.has("claims"))
      assert.strictEqual(url.searchParams.get("prompt"), "login")
      assert.strictEqual(url.searchParams.get("tenant"), "t1")
    }))
})
