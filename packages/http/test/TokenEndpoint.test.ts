import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Token from "@tokenfx/core/Token"
import * as Telemetry from "@tokenfx/http/Telemetry"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { createHash } from "node:crypto"
import * as Endpoint from "./utils/endpoint.js"
import * as FakeHttp from "./utils/FakeHttp.js"
import * as RecordingTracer from "./utils/RecordingTracer.js"

// RFC 6749 section 2.3.1: id and secret are each form-urlencoded, then joined and base64-encoded.
const expectedBasic = `Basic ${
  Buffer.from("tokenfx-client:sp3c%21al%3Asecret%2B%2F%3D%3F%26%25%7E").toString("base64")
}`

const previousToken = (refreshToken: string | undefined, scopes: ReadonlyArray<string> = ["api:read"]) =>
  new Token.Token({
    accessToken: Redacted.make("old-access"),
    tokenType: "Bearer",
    refreshToken: refreshToken === undefined ? undefined : Redacted.make(refreshToken),
    issuedAt: DateTime.unsafeMake(0),
    expiresAt: DateTime.unsafeMake(60_000),
    scopes
  })

describe("TokenEndpoint", () => {
  describe("client authentication", () => {
    it.effect("client_secret_basic form-encodes id and secret before base64, and keeps them out of the body", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        yield* endpoint.clientCredentials({ scope: ["api:read", "api:write"] })
        const [request] = server.requests
        assert.strictEqual(request.method, "POST")
        assert.strictEqual(request.url, Endpoint.tokenUrl)
        assert.strictEqual(request.headers["authorization"], expectedBasic)
        assert.strictEqual(request.headers["content-type"], "application/x-www-form-urlencoded")
        assert.strictEqual(request.headers["accept"], "application/json")
        assert.strictEqual(request.body, "grant_type=client_credentials&scope=api%3Aread+api%3Awrite")
      }))

    it.effect("transformClient wraps the client every request goes through, after it is built", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const seen: Array<string> = []
        const endpoint = yield* Endpoint.make(server, {
          transformClient: (client) =>
            client.pipe(
              HttpClient.mapRequest(HttpClientRequest.setHeader("x-request-id", "r-1")),
              HttpClient.tapRequest((request) => Effect.sync(() => seen.push(request.headers["content-type"] ?? "")))
            )
        })
        yield* endpoint.clientCredentials()
        const [request] = server.requests
        assert.strictEqual(request.headers["x-request-id"], "r-1")
        assert.strictEqual(request.headers["authorization"], expectedBasic)
        // The middleware sees the finished request: its body and the client's authentication.
        assert.deepStrictEqual(seen, ["application/x-www-form-urlencoded"])
      }))

    it.effect("client_secret_post sends client_id and client_secret in the form", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, { clientAuthentication: "client_secret_post" })
        yield* endpoint.clientCredentials()
        const [request] = server.requests
        assert.isUndefined(request.headers["authorization"])
        assert.strictEqual(
          request.body,
          "grant_type=client_credentials&client_id=tokenfx-client&client_secret=sp3c%21al%3Asecret%2B%2F%3D%3F%26%25%7E"
        )
        assert.strictEqual(request.form.get("client_secret"), Endpoint.secretText)
      }))

    it.effect("none sends only client_id, for a public client", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, { clientSecret: undefined })
        yield* endpoint.refresh(previousToken("rt-1"))
        const [request] = server.requests
        assert.isUndefined(request.headers["authorization"])
        assert.strictEqual(request.body, "grant_type=refresh_token&refresh_token=rt-1&client_id=tokenfx-client")
      }))

    it.effect("layerConfig reads the secret with Config.redacted", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const layer = TokenEndpoint.layerConfig({
          tokenEndpoint: Config.string("TOKEN_ENDPOINT"),
          clientId: Config.string("CLIENT_ID"),
          clientSecret: Config.redacted("CLIENT_SECRET")
        }).pipe(
          Layer.provide(server.layer),
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
            new Map([
              ["TOKEN_ENDPOINT", Endpoint.tokenUrl],
              ["CLIENT_ID", Endpoint.clientId],
              ["CLIENT_SECRET", Endpoint.secretText]
            ])
          )))
        )
        yield* Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.clientCredentials()).pipe(
          Effect.provide(layer)
        )
        assert.strictEqual(server.requests[0].headers["authorization"], expectedBasic)
      }))
  })

  describe("grants", () => {
    it.effect("client credentials with scope, resource and audience", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token({ scope: "api:read" })])
        const endpoint = yield* Endpoint.make(server)
        yield* TestClock.setTime(1_000_000)
        const token = yield* endpoint.clientCredentials({
          scope: "api:read",
          resource: ["https://api.example.com", "https://files.example.com"],
          audience: "my-api"
        })
        const form = server.requests[0].form
        assert.strictEqual(form.get("grant_type"), "client_credentials")
        assert.strictEqual(form.get("scope"), "api:read")
        assert.deepStrictEqual(form.getAll("resource"), ["https://api.example.com", "https://files.example.com"])
        assert.strictEqual(form.get("audience"), "my-api")
        assert.strictEqual(Redacted.value(token.accessToken), "at-1")
        assert.deepStrictEqual(token.scopes, ["api:read"])
        assert.strictEqual(DateTime.toEpochMillis(token.issuedAt), 1_000_000)
        assert.strictEqual(DateTime.toEpochMillis(token.expiresAt!), 1_000_000 + 3_600_000)
      }))

    it.effect("refresh rotates: a new refresh token replaces the old one", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token({ access_token: "at-2", refresh_token: "rt-2" })])
        const endpoint = yield* Endpoint.make(server)
        const token = yield* endpoint.refresh(previousToken("rt-1"), { scope: "api:read" })
        assert.strictEqual(server.requests[0].form.get("refresh_token"), "rt-1")
        assert.strictEqual(server.requests[0].form.get("scope"), "api:read")
        assert.strictEqual(Redacted.value(token.accessToken), "at-2")
        assert.strictEqual(Redacted.value(token.refreshToken!), "rt-2")
      }))

    it.effect("refresh keeps the previous refresh token and scopes when the server omits them", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token({ access_token: "at-2" })])
        const endpoint = yield* Endpoint.make(server)
        const token = yield* endpoint.refresh(previousToken("rt-1", ["api:read", "api:write"]))
        assert.strictEqual(Redacted.value(token.accessToken), "at-2")
        assert.strictEqual(Redacted.value(token.refreshToken!), "rt-1")
        assert.deepStrictEqual(token.scopes, ["api:read", "api:write"])
      }))

    it.effect("refresh of a token without a refresh token is InvalidGrant, without a request", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const error = yield* Effect.flip(endpoint.refresh(previousToken(undefined)))
        assert.strictEqual(error._tag, "InvalidGrant")
        assert.strictEqual(server.requests.length, 0)
      }))

    it.effect("token exchange (RFC 8693) sends the subject and actor tokens", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          FakeHttp.token({ issued_token_type: "urn:ietf:params:oauth:token-type:access_token", token_type: "N_A" })
        ])
        const endpoint = yield* Endpoint.make(server)
        const token = yield* endpoint.tokenExchange({
          subjectToken: Redacted.make("subject"),
          actorToken: Redacted.make("actor"),
          actorTokenType: "urn:ietf:params:oauth:token-type:jwt",
          audience: "backend"
        })
        const form = server.requests[0].form
        assert.strictEqual(form.get("grant_type"), "urn:ietf:params:oauth:grant-type:token-exchange")
        assert.strictEqual(form.get("subject_token"), "subject")
        assert.strictEqual(form.get("subject_token_type"), "urn:ietf:params:oauth:token-type:access_token")
        assert.strictEqual(form.get("actor_token"), "actor")
        assert.strictEqual(form.get("actor_token_type"), "urn:ietf:params:oauth:token-type:jwt")
        assert.strictEqual(form.get("audience"), "backend")
        assert.isFalse(form.has("requested_token_type"))
        assert.strictEqual(token.tokenType, "N_A")
      }))

    it.effect("JWT bearer (RFC 7523) and a generic extension grant", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        yield* endpoint.jwtBearer(Redacted.make("eyJ.assertion.sig"), { scope: "api:read" })
        yield* endpoint.grant("urn:example:grant", { ticket: Redacted.make("t-1"), extra: ["a", "b"] })
        const [jwt, generic] = server.requests
        assert.strictEqual(jwt.form.get("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer")
        assert.strictEqual(jwt.form.get("assertion"), "eyJ.assertion.sig")
        assert.strictEqual(jwt.form.get("scope"), "api:read")
        assert.strictEqual(generic.form.get("grant_type"), "urn:example:grant")
        assert.strictEqual(generic.form.get("ticket"), "t-1")
        assert.deepStrictEqual(generic.form.getAll("extra"), ["a", "b"])
      }))
  })

  describe("authorization code with PKCE", () => {
    const redirectUri = "https://app.example.com/callback"

    it.effect("builds the URL with state, S256 challenge, scope and resource", () =>
      Effect.gen(function*() {
        const endpoint = yield* Endpoint.make(FakeHttp.make([]))
        const request = yield* endpoint.authorizationUrl({
          redirectUri,
          scope: ["openid", "api:read"],
          resource: "https://api.example.com",
          nonce: true
        })
        const url = new URL(request.url)
        assert.strictEqual(`${url.origin}${url.pathname}`, `${Endpoint.issuer}/oauth/authorize`)
        const query = url.searchParams
        assert.strictEqual(query.get("response_type"), "code")
        assert.strictEqual(query.get("client_id"), Endpoint.clientId)
        assert.strictEqual(query.get("redirect_uri"), redirectUri)
        assert.strictEqual(query.get("state"), request.state)
        assert.isAtLeast(request.state.length, 43)
        assert.strictEqual(query.get("scope"), "openid api:read")
        assert.strictEqual(query.get("resource"), "https://api.example.com")
        assert.strictEqual(query.get("nonce"), request.nonce)
        assert.strictEqual(query.get("code_challenge_method"), "S256")
        const challenge = createHash("sha256").update(Redacted.value(request.verifier)).digest("base64url")
        assert.strictEqual(query.get("code_challenge"), challenge)
        assert.notInclude(request.url, Redacted.value(request.verifier))
      }))

    it.effect("exchanges the code with the verifier once state and iss match", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token({ refresh_token: "rt-1" })])
        const endpoint = yield* Endpoint.make(server)
        const request = yield* endpoint.authorizationUrl({ redirectUri })
        const token = yield* endpoint.exchangeCode(
          request,
          `${redirectUri}?code=c-1&state=${request.state}&iss=${encodeURIComponent(Endpoint.issuer)}`
        )
        const form = server.requests[0].form
        assert.strictEqual(form.get("grant_type"), "authorization_code")
        assert.strictEqual(form.get("code"), "c-1")
        assert.strictEqual(form.get("redirect_uri"), redirectUri)
        assert.strictEqual(form.get("code_verifier"), Redacted.value(request.verifier))
        assert.strictEqual(Redacted.value(token.refreshToken!), "rt-1")
      }))

    it.effect("a state mismatch is refused before any request", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const request = yield* endpoint.authorizationUrl({ redirectUri })
        const error = yield* Effect.flip(endpoint.exchangeCode(request, { code: "c-1", state: "forged" }))
        assert.strictEqual(error._tag, "InvalidAuthorizationResponse")
        assert.strictEqual(error._tag === "InvalidAuthorizationResponse" && error.reason, "StateMismatch")
        const missing = yield* Effect.flip(endpoint.exchangeCode(request, { code: "c-1" }))
        assert.strictEqual(missing._tag === "InvalidAuthorizationResponse" && missing.reason, "StateMismatch")
        assert.strictEqual(server.requests.length, 0)
      }))

    it.effect("an iss from another issuer is refused (RFC 9207), and a missing one when required", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const request = yield* endpoint.authorizationUrl({ redirectUri })
        const error = yield* Effect.flip(
          endpoint.exchangeCode(request, { code: "c-1", state: request.state, iss: "https://evil.example.com" })
        )
        assert.strictEqual(error._tag === "InvalidAuthorizationResponse" && error.reason, "IssuerMismatch")
        const strict = yield* Endpoint.make(server, { requireIssuer: true })
        const missing = yield* Effect.flip(strict.exchangeCode(request, { code: "c-1", state: request.state }))
        assert.strictEqual(missing._tag === "InvalidAuthorizationResponse" && missing.reason, "MissingIssuer")
        assert.strictEqual(server.requests.length, 0)
      }))

    it.effect("an error redirect becomes its error class", () =>
      Effect.gen(function*() {
        const endpoint = yield* Endpoint.make(FakeHttp.make([]))
        const request = yield* endpoint.authorizationUrl({ redirectUri })
        const denied = yield* Effect.flip(
          endpoint.exchangeCode(request, `?error=access_denied&error_description=no&state=${request.state}`)
        )
        assert.strictEqual(denied._tag, "AccessDenied")
        assert.strictEqual(denied._tag === "AccessDenied" && denied.description, "no")
        const oidc = yield* Effect.flip(endpoint.exchangeCode(request, `?error=login_required&state=${request.state}`))
        assert.strictEqual(oidc._tag === "UnknownOAuthError" && oidc.code, "login_required")
      }))
  })

  describe("revocation and introspection", () => {
    it.effect("revoke sends the token and its hint, and accepts an empty 200", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 200 }])
        const endpoint = yield* Endpoint.make(server)
        yield* endpoint.revoke(Redacted.make("rt-1"), "refresh_token")
        const [request] = server.requests
        assert.strictEqual(request.url, `${Endpoint.issuer}/oauth/revoke`)
        assert.strictEqual(request.body, "token=rt-1&token_type_hint=refresh_token")
        assert.strictEqual(request.headers["authorization"], expectedBasic)
      }))

    it.effect("revoke maps unsupported_token_type, and fails with MissingEndpoint when there is none", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.oauthError("unsupported_token_type")])
        const endpoint = yield* Endpoint.make(server)
        const error = yield* Effect.flip(endpoint.revoke(Redacted.make("at-1"), "access_token"))
        assert.strictEqual(error._tag, "UnsupportedTokenType")
        const none = yield* Endpoint.make(server, { revocationEndpoint: undefined })
        const missing = yield* Effect.flip(none.revoke(Redacted.make("at-1")))
        assert.strictEqual(missing._tag === "MissingEndpoint" && missing.endpoint, "revocation")
        assert.strictEqual(server.requests.length, 1)
      }))

    it.effect("introspect decodes active tokens, keeps unknown fields, and reads inactive ones", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          FakeHttp.json({ active: true, scope: "api:read", client_id: "c", exp: 100, aud: ["a", "b"], acr: "1" }),
          FakeHttp.json({ active: false })
        ])
        const endpoint = yield* Endpoint.make(server)
        const active = yield* endpoint.introspect(Redacted.make("at-1"), "access_token")
        assert.isTrue(active.active)
        assert.strictEqual(active.scope, "api:read")
        assert.deepStrictEqual(active.aud, ["a", "b"])
        assert.strictEqual(active["acr"], "1")
        assert.strictEqual(server.requests[0].body, "token=at-1&token_type_hint=access_token")
        const inactive = yield* endpoint.introspect(Redacted.make("at-2"))
        assert.isFalse(inactive.active)
        assert.strictEqual(server.requests[1].body, "token=at-2")
      }))

    it.effect("an introspection answer without active is MalformedResponse naming the field", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.json({ scope: "api:read" })])
        const endpoint = yield* Endpoint.make(server)
        const error = yield* Effect.flip(endpoint.introspect(Redacted.make("at-1")))
        assert.strictEqual(error._tag, "MalformedResponse")
        assert.strictEqual(error._tag === "MalformedResponse" && error.field, "active")
      }))
  })

  describe("errors", () => {
    const grantCodes = [
      ["invalid_request", "InvalidRequest"],
      ["invalid_client", "InvalidClient"],
      ["invalid_grant", "InvalidGrant"],
      ["unauthorized_client", "UnauthorizedClient"],
      ["unsupported_grant_type", "UnsupportedGrantType"],
      ["invalid_scope", "InvalidScope"],
      ["invalid_target", "InvalidTarget"],
      ["access_denied", "AccessDenied"]
    ] as const

    it.effect("every grant error code becomes its class, with description, uri, status and endpoint", () =>
      Effect.gen(function*() {
        for (const [code, tag] of grantCodes) {
          const server = FakeHttp.make([
            FakeHttp.json({ error: code, error_description: "why", error_uri: "https://docs/err" }, 400)
          ])
          const endpoint = yield* Endpoint.make(server)
          const error = yield* Effect.flip(endpoint.refresh(previousToken("rt-1")))
          assert.strictEqual(error._tag, tag, code)
          assert.strictEqual(error.code, code)
          assert.isTrue(OAuthError.isOAuthError(error))
          if (error._tag === tag) {
            assert.strictEqual(error.description, "why")
            assert.strictEqual(error.uri, "https://docs/err")
            assert.strictEqual(error.status, 400)
            assert.strictEqual(error.endpoint, Endpoint.tokenUrl)
          }
          assert.strictEqual(server.requests.length, 1, `${code} is not retried`)
        }
      }))

    it.effect("transient codes become their class after the last attempt", () =>
      Effect.gen(function*() {
        const cases = [
          [FakeHttp.oauthError("rate_limited", 400), "RateLimited"],
          [FakeHttp.oauthError("server_error", 500), "ServerError"],
          [FakeHttp.oauthError("temporarily_unavailable", 503), "TemporarilyUnavailable"],
          [{ status: 429 }, "RateLimited"],
          [{ status: 503 }, "TemporarilyUnavailable"],
          [{ status: 502, body: "<html><body>Bad gateway</body></html>" }, "ServerError"]
        ] as const
        for (const [reply, tag] of cases) {
          const server = FakeHttp.make([reply])
          const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
          const error = yield* Effect.flip(endpoint.clientCredentials())
          assert.strictEqual(error._tag, tag)
        }
      }))

    it.effect("codes that do not belong to an operation keep their code as UnknownOAuthError", () =>
      Effect.gen(function*() {
        for (const code of ["invalid_token", "authorization_pending", "slow_down", "expired_token", "made_up"]) {
          const server = FakeHttp.make([FakeHttp.oauthError(code)])
          const endpoint = yield* Endpoint.make(server)
          const error = yield* Effect.flip(endpoint.clientCredentials())
          assert.strictEqual(error._tag, "UnknownOAuthError", code)
          assert.strictEqual(error.code, code)
        }
      }))

    it.effect("HTML and empty error pages are mapped by status alone", () =>
      Effect.gen(function*() {
        const html = FakeHttp.make([{ status: 400, body: "<html>Bad Request</html>" }])
        const badRequest = yield* Effect.flip((yield* Endpoint.make(html)).clientCredentials())
        assert.strictEqual(badRequest._tag, "InvalidRequest")
        const empty = FakeHttp.make([{ status: 401 }])
        const unauthorized = yield* Effect.flip((yield* Endpoint.make(empty)).clientCredentials())
        assert.strictEqual(unauthorized._tag, "InvalidClient")
        const notFound = FakeHttp.make([{ status: 404, body: "<html>Not Found</html>" }])
        const missing = yield* Effect.flip((yield* Endpoint.make(notFound)).clientCredentials())
        assert.strictEqual(missing._tag, "MalformedResponse")
        assert.strictEqual(missing._tag === "MalformedResponse" && missing.status, 404)
        assert.notInclude(missing.message, "Not Found")
      }))

    it.effect("a 2xx that does not decode is MalformedResponse: HTML, empty, missing or invalid fields", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [FakeHttp.Reply, string | undefined]> = [
          [{ status: 200, body: "<html>Login</html>" }, undefined],
          [{ status: 200, body: "" }, undefined],
          [{ status: 204 }, undefined],
          [FakeHttp.json({ token_type: "Bearer" }), "access_token"],
          [FakeHttp.json({ access_token: "at", expires_in: -5 }), "expires_in"],
          [FakeHttp.json([1, 2]), undefined]
        ]
        for (const [reply, field] of cases) {
          const server = FakeHttp.make([reply])
          const error = yield* Effect.flip((yield* Endpoint.make(server)).clientCredentials())
          assert.strictEqual(error._tag, "MalformedResponse")
          assert.strictEqual(error._tag === "MalformedResponse" && error.field, field)
          assert.strictEqual(server.requests.length, 1, "a malformed 2xx is not retried")
        }
      }))

    it.effect("no secret reaches an error: a malformed answer holding tokens, a refused connection", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([
          FakeHttp.json({ access_token: "", refresh_token: "rt-secret-value" }),
          FakeHttp.refused
        ])
        const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
        const malformed = yield* Effect.flip(endpoint.refresh(previousToken("rt-old-value")))
        const refused = yield* Effect.flip(endpoint.refresh(previousToken("rt-old-value")))
        assert.strictEqual(refused._tag, "TransportError")
        assert.strictEqual(refused._tag === "TransportError" && refused.reason, "Connection")
        assert.include(refused.message, "ECONNREFUSED")
        for (const error of [malformed, refused]) {
          const shown = `${error.message} ${String(error)} ${JSON.stringify(error)}`
          for (const secret of ["rt-secret-value", "rt-old-value", Endpoint.secretText, expectedBasic]) {
            assert.notInclude(shown, secret)
          }
        }
      }))
  })

  describe("transport security", () => {
    it.effect("a redirect is never followed: TransportError with reason Redirect", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([{ status: 302, headers: { location: "https://evil.example.com/token" } }])
        const error = yield* Effect.flip((yield* Endpoint.make(server)).clientCredentials())
        assert.strictEqual(error._tag, "TransportError")
        assert.strictEqual(error._tag === "TransportError" && error.reason, "Redirect")
        assert.strictEqual(server.requests.length, 1)
      }))

    it.effect("plain HTTP is refused except to loopback, or when allowed", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.token()])
        const remote = yield* Endpoint.make(server, { tokenEndpoint: "http://auth.example.com/token" })
        const error = yield* Effect.flip(remote.clientCredentials())
        assert.strictEqual(error._tag === "TransportError" && error.reason, "Insecure")
        const notUrl = yield* Endpoint.make(server, { tokenEndpoint: "auth.example.com/token" })
        const invalid = yield* Effect.flip(notUrl.clientCredentials())
        assert.strictEqual(invalid._tag === "TransportError" && invalid.reason, "Insecure")
        assert.strictEqual(server.requests.length, 0)
        for (const url of ["http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/token"]) {
          yield* (yield* Endpoint.make(server, { tokenEndpoint: url })).clientCredentials()
        }
        yield* (yield* Endpoint.make(server, { tokenEndpoint: "http://auth.test/token", allowInsecureHttp: true }))
          .clientCredentials()
        assert.deepStrictEqual(server.requests.map((r) => new URL(r.url).host), [
          "127.0.0.1:8080",
          "localhost",
          "[::1]:9",
          "auth.test"
        ])
      }))

    it.effect("each request times out after 10 seconds by default", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.never])
        const endpoint = yield* Endpoint.make(server, { backoff: { maxAttempts: 1 } })
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("9999 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust("1 millis")
        const error = yield* Effect.flip(Fiber.join(fiber))
        assert.strictEqual(error._tag === "TransportError" && error.reason, "Timeout")
      }))

    it.effect("the timeout is configurable, and a timed-out request is retried", () =>
      Effect.gen(function*() {
        const server = FakeHttp.make([FakeHttp.never, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server, { timeout: "2 seconds" })
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("2500 millis")
        const token = yield* Fiber.join(fiber)
        assert.strictEqual(Redacted.value(token.accessToken), "at-1")
        assert.deepStrictEqual(server.requests.map((r) => r.at), [0, 2500])
      }))
  })

  describe("observability", () => {
    it.effect("one span per operation with grant type, host, status and attempts, and no secret anywhere", () =>
      Effect.gen(function*() {
        const { spans, tracer } = RecordingTracer.make()
        const server = FakeHttp.make([{ status: 503 }, FakeHttp.token({ refresh_token: "rt-2" })])
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.refresh(previousToken("rt-1")).pipe(Effect.withTracer(tracer)))
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)
        const span = spans.find((s) => s.name === "TokenEndpoint.refresh")
        assert.isDefined(span)
        assert.strictEqual(span!.attributes.get("oauth.grant_type"), "refresh_token")
        assert.strictEqual(span!.attributes.get("server.address"), "auth.example.com")
        assert.strictEqual(span!.attributes.get("http.response.status_code"), 200)
        assert.strictEqual(span!.attributes.get("tokenfx.attempts"), 2)
        const everything = JSON.stringify(
          spans.map((s) => [s.name, [...s.attributes.entries()].map(([k, v]) => [k, String(v)]), s.events])
        )
        for (const secret of ["rt-1", "rt-2", "at-1", Endpoint.secretText, expectedBasic.slice(6)]) {
          assert.notInclude(everything, secret)
        }
      }))

    it.effect("an operation built on another is still one span", () =>
      Effect.gen(function*() {
        const { spans, tracer } = RecordingTracer.make()
        const server = FakeHttp.make([FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        yield* endpoint.tokenExchange({ subjectToken: Redacted.make("subject") }).pipe(Effect.withTracer(tracer))
        const own = spans.filter((span) => span.name.startsWith("TokenEndpoint."))
        assert.deepStrictEqual(own.map((span) => span.name), ["TokenEndpoint.tokenExchange"])
        assert.strictEqual(
          own[0].attributes.get("oauth.grant_type"),
          "urn:ietf:params:oauth:grant-type:token-exchange"
        )
      }))

    it.effect("metrics count requests by grant and outcome, and retries", () =>
      Effect.gen(function*() {
        const labels = [
          Telemetry.clientLabel(undefined),
          MetricLabel.make("operation", "clientCredentials"),
          MetricLabel.make("grant_type", "client_credentials")
        ]
        const count = (metric: Metric.Metric.Counter<number>, extra: ReadonlyArray<MetricLabel.MetricLabel> = []) =>
          Effect.map(Metric.value(Metric.taggedWithLabels(metric, [...labels, ...extra])), (state) => state.count)
        const success = () => count(Telemetry.requestsTotal, [MetricLabel.make("outcome", "success")])
        const limited = () => count(Telemetry.requestsTotal, [MetricLabel.make("outcome", "rate_limited")])
        const before = [yield* success(), yield* limited(), yield* count(Telemetry.retriesTotal)]
        const histogram = Metric.taggedWithLabels(Telemetry.requestDuration, labels)
        const samples = (yield* Metric.value(histogram)).count

        const server = FakeHttp.make([{ status: 429 }, FakeHttp.token()])
        const endpoint = yield* Endpoint.make(server)
        const fiber = yield* Effect.fork(endpoint.clientCredentials())
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(fiber)

        assert.deepStrictEqual(
          [
            (yield* success()) - before[0],
            (yield* limited()) - before[1],
            (yield* count(Telemetry.retriesTotal)) - before[2]
          ],
          [1, 1, 1]
        )
        assert.strictEqual((yield* Metric.value(histogram)).count - samples, 2)
      }))
  })

  it.effect("the service is provided by layer", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.token()])
      const token = yield* Effect.flatMap(TokenEndpoint.TokenEndpoint, (endpoint) => endpoint.clientCredentials()).pipe(
        Effect.provide(TokenEndpoint.layer(Endpoint.options)),
        Effect.provideService(HttpClient.HttpClient, server.client)
      )
      assert.strictEqual(Redacted.value(token.accessToken), "at-1")
      assert.strictEqual(server.requests.length, 1)
    }))
})
