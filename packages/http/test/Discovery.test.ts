import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Discovery from "@tokenfx/http/Discovery"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as FakeHttp from "./utils/FakeHttp.js"

const issuer = "https://auth.example.com"

const metadata = (fields: Record<string, unknown> = {}) => ({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  revocation_endpoint: `${issuer}/revoke`,
  introspection_endpoint: `${issuer}/introspect`,
  device_authorization_endpoint: `${issuer}/device`,
  ...fields
})

const discover = (server: FakeHttp.FakeServer, at: string, options?: Discovery.Options) =>
  Discovery.discover(at, options).pipe(Effect.provideService(HttpClient.HttpClient, server.client))

describe("Discovery", () => {
  it("metadataUrl puts RFC 8414's segment before the issuer's path and OpenID Connect's after it", () => {
    assert.strictEqual(
      Discovery.metadataUrl("https://auth.example.com/tenant/1", "oauth-authorization-server"),
      "https://auth.example.com/.well-known/oauth-authorization-server/tenant/1"
    )
    assert.strictEqual(
      Discovery.metadataUrl("https://auth.example.com/tenant/1/", "openid-configuration"),
      "https://auth.example.com/tenant/1/.well-known/openid-configuration"
    )
    assert.strictEqual(
      Discovery.metadataUrl(issuer, "oauth-authorization-server"),
      "https://auth.example.com/.well-known/oauth-authorization-server"
    )
  })

  it.effect("reads RFC 8414 metadata and keeps unknown fields", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json(metadata({ dpop_signing_alg_values_supported: ["ES256"] }))])
      const result = yield* discover(server, issuer)
      assert.strictEqual(result.token_endpoint, `${issuer}/token`)
      assert.deepStrictEqual(result["dpop_signing_alg_values_supported"], ["ES256"])
      assert.strictEqual(server.requests[0].method, "GET")
      assert.strictEqual(server.requests[0].url, `${issuer}/.well-known/oauth-authorization-server`)
    }))

  it.effect("falls back to OpenID Connect discovery when RFC 8414's document is not found", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([{ status: 404, body: "<html>Not Found</html>" }, FakeHttp.json(metadata())])
      const result = yield* discover(server, issuer)
      assert.strictEqual(result.issuer, issuer)
      assert.deepStrictEqual(server.requests.map((r) => r.url), [
        `${issuer}/.well-known/oauth-authorization-server`,
        `${issuer}/.well-known/openid-configuration`
      ])
    }))

  it.effect("reads only the document asked for", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([{ status: 404 }])
      const error = yield* Effect.flip(discover(server, issuer, { kind: "openid-configuration" }))
      assert.strictEqual(error._tag, "MalformedResponse")
      assert.deepStrictEqual(server.requests.map((r) => r.url), [`${issuer}/.well-known/openid-configuration`])
    }))

  it.effect("refuses metadata for another issuer, without falling back", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json(metadata({ issuer: "https://evil.example.com" }))])
      const error = yield* Effect.flip(discover(server, issuer))
      assert.strictEqual(error._tag, "IssuerMismatch")
      if (error._tag === "IssuerMismatch") {
        assert.strictEqual(error.expected, issuer)
        assert.strictEqual(error.actual, "https://evil.example.com")
      }
      assert.strictEqual(server.requests.length, 1)
      const slash = FakeHttp.make([FakeHttp.json(metadata({ issuer: `${issuer}/` }))])
      assert.strictEqual((yield* Effect.flip(discover(slash, issuer)))._tag, "IssuerMismatch")
    }))

  it.effect("refuses a plain-HTTP issuer that is not loopback, and a document without an issuer", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json({ token_endpoint: "https://x/token" })])
      const insecure = yield* Effect.flip(discover(server, "http://auth.example.com"))
      assert.strictEqual(insecure._tag === "TransportError" && insecure.reason, "Insecure")
      assert.strictEqual(server.requests.length, 0)
      const malformed = yield* Effect.flip(discover(server, issuer))
      assert.strictEqual(malformed._tag === "MalformedResponse" && malformed.field, "issuer")
    }))

  // RFC 6749 sections 3.1 and 3.2 require TLS at these endpoints. A plain-HTTP endpoint on another host
  // was refused only on use; one on loopback was used, the client secret sent in the clear to a port the
  // metadata of an HTTPS issuer chose.
  it.effect("an HTTPS issuer's metadata naming a plain-HTTP or non-web endpoint is refused, loopback included", () =>
    Effect.gen(function*() {
      const hostile: ReadonlyArray<readonly [Record<string, unknown>, string]> = [
        [{ token_endpoint: "http://127.0.0.1:8080/token" }, "token_endpoint"],
        [{ jwks_uri: "http://auth.example.com/jwks" }, "jwks_uri"],
        [{ userinfo_endpoint: "javascript:alert(1)" }, "userinfo_endpoint"],
        [{ revocation_endpoint: "/revoke" }, "revocation_endpoint"]
      ]
      for (const [fields, field] of hostile) {
        const server = FakeHttp.make([FakeHttp.json(metadata(fields))])
        const error = yield* Effect.flip(discover(server, issuer))
        assert.deepStrictEqual([error._tag, error._tag === "MalformedResponse" && error.field], [
          "MalformedResponse",
          field
        ])
      }
      // Endpoints on other HTTPS hosts are the issuer's to name (Google's token endpoint is on
      // oauth2.googleapis.com); a loopback issuer over plain HTTP names plain-HTTP endpoints.
      const google = FakeHttp.make([FakeHttp.json(metadata({ token_endpoint: "https://oauth2.googleapis.com/token" }))])
      assert.strictEqual((yield* discover(google, issuer)).token_endpoint, "https://oauth2.googleapis.com/token")
      const local = "http://127.0.0.1:8080"
      const loopback = FakeHttp.make([FakeHttp.json({ issuer: local, token_endpoint: `${local}/token` })])
      assert.strictEqual((yield* discover(loopback, local)).token_endpoint, `${local}/token`)
    }))

  it.effect("TokenEndpoint.discover sends the metadata request and every later one through transformClient", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json(metadata()), FakeHttp.token()])
      const endpoint = yield* TokenEndpoint.discover({
        issuer,
        clientId: "c",
        clientSecret: Redacted.make("s"),
        transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-tenant", "acme"))
      }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))
      yield* endpoint.clientCredentials()
      assert.deepStrictEqual(server.requests.map((request) => request.headers["x-tenant"]), ["acme", "acme"])
    }))

  it.effect("TokenEndpoint.discover uses the discovered endpoints and authentication method", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([
        FakeHttp.json(metadata({
          token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt"],
          authorization_response_iss_parameter_supported: true
        })),
        FakeHttp.token()
      ])
      const endpoint = yield* TokenEndpoint.discover({
        issuer,
        clientId: "c",
        clientSecret: Redacted.make("s"),
        revocationEndpoint: "https://other.example.com/revoke"
      }).pipe(Effect.provideService(HttpClient.HttpClient, server.client))
      yield* endpoint.clientCredentials()
      const request = server.requests[1]
      assert.strictEqual(request.url, `${issuer}/token`)
      assert.strictEqual(request.form.get("client_secret"), "s")
      const authorization = yield* endpoint.authorizationUrl({ redirectUri: "https://app/cb" })
      assert.isTrue(authorization.url.startsWith(`${issuer}/authorize?`))
      // The metadata promises iss, so a redirect without it is refused.
      const error = yield* Effect.flip(endpoint.exchangeCode(authorization, { code: "x", state: authorization.state }))
      assert.strictEqual(error._tag === "InvalidAuthorizationResponse" && error.reason, "MissingIssuer")
      yield* endpoint.revoke(Redacted.make("t"))
      assert.strictEqual(server.requests[2].url, "https://other.example.com/revoke")
    }))

  it.effect("metadata without a token endpoint cannot make a TokenEndpoint", () =>
    Effect.gen(function*() {
      const server = FakeHttp.make([FakeHttp.json(metadata({ token_endpoint: undefined }))])
      const error = yield* Effect.flip(
        Effect.flatMap(TokenEndpoint.TokenEndpoint, () => Effect.void).pipe(
          Effect.provide(TokenEndpoint.layerDiscovery({ issuer, clientId: "c" })),
          Effect.provideService(HttpClient.HttpClient, server.client)
        )
      )
      assert.strictEqual(error._tag === "MalformedResponse" && error.field, "token_endpoint")
    }))
})
