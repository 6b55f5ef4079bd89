import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Pkce from "@tokenfx/core/Pkce"
import * as AuthorizationServer from "@tokenfx/testing/AuthorizationServer"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

interface Reply {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
  readonly json: Record<string, unknown>
}

const execute = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    let json: Record<string, unknown> = {}
    try {
      json = text.length > 0 ? JSON.parse(text) : {}
    } catch {
      json = {}
    }
    return { status: response.status, headers: response.headers, text, json } satisfies Reply
  }).pipe(Effect.orDie)

type Auth = "basic" | "post" | "public" | { readonly id: string; readonly secret: string }

const post = (url: string, params: Record<string, string>, auth: Auth = "basic") => {
  let request = HttpClientRequest.post(url)
  let body = params
  if (auth === "basic") request = HttpClientRequest.basicAuth(request, "client", "secret")
  else if (auth === "post") body = { ...params, client_id: "client", client_secret: "secret" }
  else if (auth === "public") body = { ...params, client_id: "public-client" }
  else request = HttpClientRequest.basicAuth(request, auth.id, auth.secret)
  return execute(HttpClientRequest.bodyUrlParams(request, body))
}

const token = (params: Record<string, string>, auth?: Auth) =>
  Effect.flatMap(AuthorizationServer.AuthorizationServer, (server) => post(server.tokenEndpoint, params, auth))

const resource = (accessToken: unknown, query = "") =>
  Effect.flatMap(
    AuthorizationServer.AuthorizationServer,
    (server) =>
      execute(
        HttpClientRequest.get(`${server.resourceUrl}${query}`).pipe(HttpClientRequest.bearerToken(String(accessToken)))
      )
  )

const refresh = (refreshToken: unknown, auth?: Auth) =>
  token({ grant_type: "refresh_token", refresh_token: String(refreshToken) }, auth)

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

const withServer = (options?: AuthorizationServer.Options) => Effect.provide(AuthorizationServer.layer(options))

describe("AuthorizationServer", () => {
  it.effect("client credentials with basic and post authentication", () =>
    Effect.gen(function*() {
      const basic = yield* token({ grant_type: "client_credentials", scope: "read" }, "basic")
      assert.strictEqual(basic.status, 200)
      assert.strictEqual(basic.json.token_type, "Bearer")
      assert.strictEqual(basic.json.expires_in, 3600)
      assert.strictEqual(basic.json.scope, "read")
      assert.isUndefined(basic.json.refresh_token)
      assert.strictEqual(basic.headers["cache-control"], "no-store")
      const post_ = yield* token({ grant_type: "client_credentials" }, "post")
      assert.strictEqual(post_.status, 200)
      assert.notStrictEqual(post_.json.access_token, basic.json.access_token)
      assert.deepStrictEqual((yield* resource(basic.json.access_token)).json, {
        sub: "client",
        client_id: "client",
        scope: "read"
      })
    }).pipe(withServer()))

  it.effect("rejects bad client authentication", () =>
    Effect.gen(function*() {
      const wrong = yield* token({ grant_type: "client_credentials" }, { id: "client", secret: "nope" })
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(wrong.json.error, "invalid_client")
      assert.match(wrong.headers["www-authenticate"] ?? "", /^Basic /)
      const unknown = yield* token({ grant_type: "client_credentials", client_id: "who" }, { id: "who", secret: "x" })
      assert.strictEqual(unknown.json.error, "invalid_client")
      // a confidential client may not skip its secret
      const server = yield* AuthorizationServer.AuthorizationServer
      const none = yield* execute(
        HttpClientRequest.post(server.tokenEndpoint).pipe(
          HttpClientRequest.bodyUrlParams({ grant_type: "client_credentials", client_id: "client" })
        )
      )
      assert.strictEqual(none.status, 401)
      assert.strictEqual(none.json.error, "invalid_client")
      // a public client has no client credentials grant
      const publicClient = yield* token({ grant_type: "client_credentials" }, "public")
      assert.strictEqual(publicClient.json.error, "unauthorized_client")
    }).pipe(withServer()))

  it.effect("a restricted client: one auth method, allowed scopes", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const only = { id: "svc", secret: "s3cret" }
      assert.strictEqual(
        (yield* post(server.tokenEndpoint, { grant_type: "client_credentials" }, only)).json.scope,
        "a b"
      )
      // client_secret_post is not among its methods
      const postAuth = yield* execute(
        HttpClientRequest.post(server.tokenEndpoint).pipe(
          HttpClientRequest.bodyUrlParams({
            grant_type: "client_credentials",
            client_id: "svc",
            client_secret: "s3cret"
          })
        )
      )
      assert.strictEqual(postAuth.json.error, "invalid_client")
      const scope = yield* post(server.tokenEndpoint, { grant_type: "client_credentials", scope: "a c" }, only)
      assert.strictEqual(scope.json.error, "invalid_scope")
    }).pipe(withServer({
      clients: [{
        clientId: "svc",
        clientSecret: Redacted.make("s3cret"),
        authMethods: ["client_secret_basic"],
        scope: "a b"
      }]
    })))

  it.effect("access tokens expire on the Clock", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const { json } = yield* token({ grant_type: "client_credentials" })
      assert.strictEqual(json.expires_in, 60)
      yield* TestClock.adjust("59 seconds")
      assert.strictEqual((yield* resource(json.access_token)).status, 200)
      yield* TestClock.adjust("1 second")
      const expired = yield* resource(json.access_token)
      assert.strictEqual(expired.status, 401)
      assert.match(expired.headers["www-authenticate"] ?? "", /^Bearer error="invalid_token"/)
      const introspected = yield* post(server.introspectionEndpoint, { token: String(json.access_token) })
      assert.deepStrictEqual(introspected.json, { active: false })
    }).pipe(withServer({ accessTokenTtl: "1 minute" })))

  it.effect("accessTokenTtl infinity: no expires_in, and tokens that never expire", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const { json } = yield* token({ grant_type: "client_credentials" })
      assert.isFalse("expires_in" in json)
      yield* TestClock.adjust("3650 days")
      assert.strictEqual((yield* resource(json.access_token)).status, 200)
      const introspected = yield* post(server.introspectionEndpoint, { token: String(json.access_token) })
      assert.isTrue(introspected.json.active)
      assert.isFalse("exp" in introspected.json)
      const seeded = yield* server.issueToken()
      assert.isUndefined(seeded.expiresAt)
    }).pipe(withServer({ accessTokenTtl: Duration.infinity })))

  it.effect("latency: every answer takes that long on the Clock, a forced delay on top", () =>
    Effect.gen(function*() {
      const slow = yield* Effect.fork(token({ grant_type: "client_credentials" }))
      yield* TestClock.adjust("1999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(slow)))
      yield* TestClock.adjust("1 milli")
      assert.strictEqual((yield* Fiber.join(slow)).status, 200)
      const server = yield* AuthorizationServer.AuthorizationServer
      yield* server.failNext(1, { status: 503, delay: "1 second" })
      const slower = yield* Effect.fork(token({ grant_type: "client_credentials" }))
      yield* TestClock.adjust("2999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(slower)))
      yield* TestClock.adjust("1 milli")
      assert.strictEqual((yield* Fiber.join(slower)).status, 503)
    }).pipe(withServer({ latency: "2 seconds" })))

  it.effect("issueToken seeds a grant as a core Token, timed on the Clock", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      yield* TestClock.adjust("10 seconds")
      const seeded = yield* server.issueToken({ subject: "bob", scope: "read write" })
      assert.deepStrictEqual(seeded.scopes, ["read", "write"])
      assert.strictEqual(
        Option.map(Option.fromNullable(seeded.expiresAt), DateTime.toEpochMillis).pipe(Option.getOrUndefined),
        10_000 + 3_600_000
      )
      assert.isDefined(seeded.refreshToken)
      assert.strictEqual((yield* resource(Redacted.value(seeded.accessToken))).json.sub, "bob")
      const refreshed = yield* refresh(Redacted.value(seeded.refreshToken!))
      assert.strictEqual(refreshed.status, 200)
      assert.strictEqual(refreshed.json.scope, "read write")
    }).pipe(withServer()))

  it.effect("rotates refresh tokens; reuse of a rotated one revokes the whole grant", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const seeded = yield* server.issueToken()
      const first = Redacted.value(seeded.refreshToken!)
      const second = yield* refresh(first)
      assert.strictEqual(second.status, 200)
      assert.isString(second.json.refresh_token)
      assert.notStrictEqual(second.json.refresh_token, first)
      assert.strictEqual((yield* resource(second.json.access_token)).status, 200)

      const reuse = yield* refresh(first)
      assert.strictEqual(reuse.status, 400)
      assert.strictEqual(reuse.json.error, "invalid_grant")
      assert.strictEqual((yield* refresh(second.json.refresh_token)).json.error, "invalid_grant")
      assert.strictEqual((yield* resource(second.json.access_token)).status, 401)

      const stats = yield* server.stats
      assert.deepStrictEqual(stats.tokenRequests, { refresh_token: 3 })
      assert.deepStrictEqual(stats.tokensIssued, { refresh_token: 1 })
      assert.strictEqual(stats.errors.invalid_grant, 2)
      assert.strictEqual(stats.errors.invalid_token, 1)
    }).pipe(withServer()))

  it.effect("two concurrent refreshes with one refresh token: one wins, the reuse revokes the grant", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const seeded = yield* server.issueToken()
      const value = Redacted.value(seeded.refreshToken!)
      const [a, b] = yield* Effect.all([refresh(value), refresh(value)], { concurrency: 2 })
      assert.deepStrictEqual([a.status, b.status].sort(), [200, 400])
      const winner = a.status === 200 ? a : b
      assert.strictEqual((yield* refresh(winner.json.refresh_token)).json.error, "invalid_grant")
    }).pipe(withServer()))

  it.effect.prop(
    "after any number of rotations only the latest refresh token works",
    [FastCheck.integer({ min: 1, max: 6 })],
    ([rotations]) =>
      Effect.gen(function*() {
        const server = yield* AuthorizationServer.AuthorizationServer
        const seeded = yield* server.issueToken()
        const chain: Array<string> = [Redacted.value(seeded.refreshToken!)]
        for (let i = 0; i < rotations; i++) {
          chain.push(String((yield* refresh(chain[chain.length - 1])).json.refresh_token))
        }
        assert.strictEqual(new Set(chain).size, rotations + 1)
        const latest = yield* post(server.introspectionEndpoint, { token: chain[rotations] })
        assert.strictEqual(latest.json.active, true)
        for (const old of chain.slice(0, rotations)) {
          assert.strictEqual((yield* post(server.introspectionEndpoint, { token: old })).json.active, false)
        }
      }).pipe(withServer()),
    { fastCheck: { numRuns: 10 } }
  )

  it.effect("a refresh token belongs to its client and cannot widen its scope", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const seeded = yield* server.issueToken({ scope: "read" })
      const value = Redacted.value(seeded.refreshToken!)
      const wider = yield* token({ grant_type: "refresh_token", refresh_token: value, scope: "read write" })
      assert.strictEqual(wider.json.error, "invalid_scope")
      const other = yield* refresh(value, "public")
      assert.strictEqual(other.json.error, "invalid_grant")
      assert.strictEqual((yield* refresh("rt_unknown")).json.error, "invalid_grant")
      assert.strictEqual((yield* refresh(value)).status, 200)
    }).pipe(withServer()))

  it.effect("without rotation the refresh response omits refresh_token and the old one stays valid", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const seeded = yield* server.issueToken()
      const value = Redacted.value(seeded.refreshToken!)
      const once = yield* refresh(value)
      assert.strictEqual(once.status, 200)
      assert.isUndefined(once.json.refresh_token)
      assert.strictEqual((yield* refresh(value)).status, 200)
    }).pipe(withServer({ rotateRefreshTokens: false })))

  it.effect("refresh tokens expire when refreshTokenTtl is set", () =>
    Effect.gen(function*() {
      const { json } = yield* Effect.flatMap(AuthorizationServer.AuthorizationServer, (server) =>
        Effect.flatMap(
          server.authorize({
            client_id: "client",
            response_type: "code",
            redirect_uri: "https://app.test/cb"
          }),
          ({ code }) => token({ grant_type: "authorization_code", code, redirect_uri: "https://app.test/cb" })
        ))
      assert.strictEqual(json.refresh_token_expires_in, 86400)
      yield* TestClock.adjust("1 day")
      const late = yield* refresh(json.refresh_token)
      assert.strictEqual(late.json.error, "invalid_grant")
      assert.match(String(late.json.error_description), /expired/)
    }).pipe(withServer({ refreshTokenTtl: "1 day" })))

  it.effect("authorization code with PKCE S256", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const pkce = yield* Pkce.make
      const url = new URL(server.authorizationEndpoint)
      url.search = new URLSearchParams({
        client_id: "public-client",
        response_type: "code",
        redirect_uri: "http://127.0.0.1/cb",
        scope: "openid read",
        state: "xyz",
        code_challenge: pkce.challenge,
        code_challenge_method: "S256"
      }).toString()
      const authorized = yield* server.authorize(url.href, "carol")
      assert.strictEqual(authorized.state, "xyz")
      assert.strictEqual(authorized.iss, server.issuer)
      const exchange = (params: Record<string, string>) =>
        token({ grant_type: "authorization_code", redirect_uri: "http://127.0.0.1/cb", ...params }, "public")

      const other = yield* Pkce.make
      assert.strictEqual(
        (yield* exchange({ code: authorized.code, code_verifier: Redacted.value(other.verifier) })).json.error,
        "invalid_grant"
      )
      assert.strictEqual((yield* exchange({ code: authorized.code })).json.error, "invalid_grant")
      assert.strictEqual(
        (yield* exchange({ code: authorized.code, code_verifier: "short" })).json.error,
        "invalid_grant"
      )
      const tokens = yield* exchange({ code: authorized.code, code_verifier: Redacted.value(pkce.verifier) })
      assert.strictEqual(tokens.status, 200)
      assert.strictEqual(tokens.json.scope, "openid read")
      assert.isString(tokens.json.refresh_token)
      assert.strictEqual((yield* resource(tokens.json.access_token)).json.sub, "carol")

      // a replayed code fails and takes the tokens it gave with it
      const replay = yield* exchange({ code: authorized.code, code_verifier: Redacted.value(pkce.verifier) })
      assert.strictEqual(replay.json.error, "invalid_grant")
      assert.strictEqual((yield* resource(tokens.json.access_token)).status, 401)
      assert.strictEqual((yield* refresh(tokens.json.refresh_token, "public")).json.error, "invalid_grant")
    }).pipe(withServer()))

  it.effect("authorization codes check redirect_uri and expire", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const request = { client_id: "client", response_type: "code", redirect_uri: "https://app.test/cb" }
      const { code } = yield* server.authorize(request)
      const mismatch = yield* token({ grant_type: "authorization_code", code, redirect_uri: "https://evil.test/cb" })
      assert.strictEqual(mismatch.json.error, "invalid_grant")
      const late = yield* server.authorize(request)
      yield* TestClock.adjust("1 minute")
      const expired = yield* token({
        grant_type: "authorization_code",
        code: late.code,
        redirect_uri: request.redirect_uri
      })
      assert.strictEqual(expired.json.error, "invalid_grant")
    }).pipe(withServer()))

  it.effect("authorize fails with typed errors", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const noPkce = yield* Effect.flip(server.authorize({ client_id: "public-client", response_type: "code" }))
      assert.strictEqual(noPkce._tag, "InvalidRequest")
      const plain = yield* Effect.flip(server.authorize({
        client_id: "client",
        response_type: "code",
        code_challenge: "abc",
        code_challenge_method: "plain"
      }))
      assert.strictEqual(plain._tag, "InvalidRequest")
      const unknown = yield* Effect.flip(server.authorize({ client_id: "nobody", response_type: "code" }))
      assert.strictEqual(unknown._tag, "InvalidClient")
      const token_ = yield* Effect.flip(server.authorize({ client_id: "client", response_type: "token" }))
      assert.strictEqual(token_._tag, "InvalidRequest")
      const notUrl = yield* Effect.flip(server.authorize("not a url"))
      assert.strictEqual(notUrl._tag, "InvalidRequest")
    }).pipe(withServer()))

  it.effect("rejects extension grants, a missing grant_type, repeated parameters and non-form bodies", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const jwtBearer = yield* token({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "x" })
      assert.strictEqual(jwtBearer.status, 400)
      assert.strictEqual(jwtBearer.json.error, "unsupported_grant_type")
      assert.strictEqual((yield* token({})).json.error, "invalid_request")
      const repeated = yield* execute(
        HttpClientRequest.post(server.tokenEndpoint).pipe(
          HttpClientRequest.basicAuth("client", "secret"),
          HttpClientRequest.bodyText(
            "grant_type=client_credentials&grant_type=password",
            "application/x-www-form-urlencoded"
          )
        )
      )
      assert.strictEqual(repeated.json.error, "invalid_request")
      const json = yield* execute(
        HttpClientRequest.post(server.tokenEndpoint).pipe(
          HttpClientRequest.basicAuth("client", "secret"),
          HttpClientRequest.bodyUnsafeJson({ grant_type: "client_credentials" })
        )
      )
      assert.strictEqual(json.json.error, "invalid_request")
      const get = yield* execute(HttpClientRequest.get(server.tokenEndpoint))
      assert.strictEqual(get.status, 405)
      const stats = yield* server.stats
      assert.strictEqual(stats.tokenRequests["urn:ietf:params:oauth:grant-type:jwt-bearer"], 1)
      assert.strictEqual(stats.errors.unsupported_grant_type, 1)
      assert.strictEqual(stats.errors.invalid_request, 4)
    }).pipe(withServer()))

  it.effect("failNext forces 429 with Retry-After, an HTML 500 and a slow 503", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      yield* server.failNext(2, { status: 429, headers: { "retry-after": "7" } })
      const grant = { grant_type: "client_credentials" }
      for (let i = 0; i < 2; i++) {
        const limited = yield* token(grant)
        assert.strictEqual(limited.status, 429)
        assert.strictEqual(limited.headers["retry-after"], "7")
        assert.strictEqual(limited.text, "")
      }
      assert.strictEqual((yield* token(grant)).status, 200)

      yield* server.failNext(1, { status: 500, body: "<html><body>Internal Server Error</body></html>" })
      const html = yield* token(grant)
      assert.strictEqual(html.status, 500)
      assert.match(html.headers["content-type"] ?? "", /^text\/html/)

      yield* server.failNext(1, { status: 503, body: { error: "temporarily_unavailable" }, delay: "30 seconds" })
      const fiber = yield* Effect.fork(token(grant))
      yield* TestClock.adjust("29 seconds")
      assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
      yield* TestClock.adjust("1 second")
      const slow = yield* Fiber.join(fiber)
      assert.strictEqual(slow.status, 503)
      assert.strictEqual(slow.json.error, "temporarily_unavailable")

      // other endpoints fail only when named
      yield* server.failNext(1, { status: 503, endpoint: "resource" })
      const { json } = yield* token(grant)
      assert.strictEqual((yield* resource(json.access_token)).status, 503)
      assert.strictEqual((yield* resource(json.access_token)).status, 200)

      const stats = yield* server.stats
      assert.strictEqual(stats.forcedFailures, 5)
      assert.strictEqual(stats.errors.http_429, 2)
      assert.strictEqual(stats.errors.http_500, 1)
      assert.strictEqual(stats.errors.temporarily_unavailable, 1)
      assert.strictEqual(stats.tokenRequests.client_credentials, 6)
      assert.strictEqual(stats.tokensIssued.client_credentials, 2)
    }).pipe(withServer()))

  it.effect("revocation (RFC 7009) and introspection (RFC 7662)", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const seeded = yield* server.issueToken({ scope: "read" })
      const accessToken = Redacted.value(seeded.accessToken)
      const refreshToken = Redacted.value(seeded.refreshToken!)

      const active = yield* post(server.introspectionEndpoint, { token: accessToken })
      assert.strictEqual(active.json.active, true)
      assert.strictEqual(active.json.sub, "alice")
      assert.strictEqual(active.json.scope, "read")
      assert.strictEqual(active.json.exp, 3600)
      assert.strictEqual((yield* post(server.introspectionEndpoint, { token: refreshToken })).json.active, true)
      // tokens of another client are not revealed
      assert.strictEqual(
        (yield* post(server.introspectionEndpoint, { token: accessToken }, "public")).json.active,
        false
      )

      assert.strictEqual((yield* post(server.revocationEndpoint, { token: "unknown" })).status, 200)
      assert.strictEqual(
        (yield* post(server.revocationEndpoint, { token: accessToken }, "public")).json.error,
        "invalid_request"
      )
      assert.strictEqual((yield* post(server.revocationEndpoint, {})).json.error, "invalid_request")

      // revoking the access token leaves the refresh token
      assert.strictEqual(
        (yield* post(server.revocationEndpoint, { token: accessToken, token_type_hint: "access_token" })).status,
        200
      )
      assert.strictEqual((yield* resource(accessToken)).status, 401)
      const refreshed = yield* refresh(refreshToken)
      assert.strictEqual(refreshed.status, 200)
      // revoking the refresh token takes the grant's access tokens with it
      assert.strictEqual(
        (yield* post(server.revocationEndpoint, { token: String(refreshed.json.refresh_token) })).status,
        200
      )
      assert.strictEqual((yield* resource(refreshed.json.access_token)).status, 401)
      assert.strictEqual((yield* refresh(refreshed.json.refresh_token)).json.error, "invalid_grant")

      const stats = yield* server.stats
      assert.strictEqual(stats.introspectionRequests, 3)
      assert.strictEqual(stats.revocationRequests, 5)
    }).pipe(withServer()))

  it.effect("device flow: pending, slow_down, approved, denied, expired", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const start = post(server.deviceAuthorizationEndpoint, { scope: "read" })
      const poll = (deviceCode: unknown) => token({ grant_type: deviceGrant, device_code: String(deviceCode) })

      const device = (yield* start).json
      assert.strictEqual(device.interval, 5)
      assert.strictEqual(device.expires_in, 600)
      assert.match(String(device.user_code), /^[A-Z]{4}-[A-Z]{4}$/)
      assert.strictEqual((yield* poll(device.device_code)).json.error, "authorization_pending")
      assert.strictEqual((yield* poll(device.device_code)).json.error, "slow_down")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* poll(device.device_code)).json.error, "authorization_pending")
      // the interval grew by five seconds
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual((yield* poll(device.device_code)).json.error, "slow_down")

      yield* server.approveDevice(String(device.user_code).toLowerCase(), "dave")
      yield* TestClock.adjust("15 seconds")
      const tokens = yield* poll(device.device_code)
      assert.strictEqual(tokens.status, 200)
      assert.isString(tokens.json.refresh_token)
      assert.strictEqual((yield* resource(tokens.json.access_token)).json.sub, "dave")
      yield* TestClock.adjust("15 seconds")
      assert.strictEqual((yield* poll(device.device_code)).json.error, "invalid_grant")
      assert.strictEqual((yield* Effect.flip(server.approveDevice(String(device.user_code))))._tag, "InvalidGrant")

      const denied = (yield* start).json
      yield* server.denyDevice(String(denied.user_code))
      assert.strictEqual((yield* poll(denied.device_code)).json.error, "access_denied")

      const expired = (yield* start).json
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual((yield* poll(expired.device_code)).json.error, "expired_token")
      assert.strictEqual((yield* Effect.flip(server.approveDevice(String(expired.user_code))))._tag, "ExpiredToken")

      const stats = yield* server.stats
      assert.strictEqual(stats.deviceAuthorizationRequests, 3)
      assert.strictEqual(stats.tokensIssued[deviceGrant], 1)
      assert.strictEqual(stats.errors.slow_down, 2)
    }).pipe(withServer()))

  it.effect("revokeAll kills every grant", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const a = yield* server.issueToken({ subject: "a" })
      const b = yield* server.issueToken({ subject: "b" })
      yield* server.revokeAll
      for (const seeded of [a, b]) {
        assert.strictEqual((yield* resource(Redacted.value(seeded.accessToken))).status, 401)
        assert.strictEqual((yield* refresh(Redacted.value(seeded.refreshToken!))).json.error, "invalid_grant")
      }
    }).pipe(withServer()))

  it.effect("serves its metadata and nothing else", () =>
    Effect.gen(function*() {
      const server = yield* AuthorizationServer.AuthorizationServer
      const metadata = yield* execute(HttpClientRequest.get(`${server.issuer}/.well-known/oauth-authorization-server`))
      assert.strictEqual(metadata.json.token_endpoint, server.tokenEndpoint)
      assert.strictEqual(metadata.json.revocation_endpoint, server.revocationEndpoint)
      assert.strictEqual(metadata.json.device_authorization_endpoint, server.deviceAuthorizationEndpoint)
      assert.strictEqual((yield* execute(HttpClientRequest.get("https://elsewhere.test/token"))).status, 404)
      assert.strictEqual((yield* execute(HttpClientRequest.get(`${server.issuer}/nope`))).status, 404)
    }).pipe(withServer({ issuer: "https://login.test/tenant" })))
})
