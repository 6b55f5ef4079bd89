/**
 * Authorization code + PKCE for a desktop or command-line app (RFC 8252): a redirect listener on
 * 127.0.0.1 at a port the system picks, the user sent to the authorization URL, the redirect checked
 * (`state`, `iss`) and its code exchanged with the PKCE verifier.
 *
 * Run it with `pnpm --filter @tokenfx/examples exec tsx src/loopback-login.ts`: the embedded
 * oidc-provider plays the server and a scripted browser plays the user. In your app, `openBrowser`
 * prints the URL and opens a browser (`tokenfx login --browser` does exactly this).
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as AuthorizationCode from "@tokenfx/http/AuthorizationCode"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"

/**
 * Logs a user in through a loopback redirect. `openBrowser` receives the authorization URL: show it,
 * open a browser; the listener waits (up to `timeout`) for the redirect.
 */
export const loginWithLoopback = (options: {
  readonly scope: ReadonlyArray<string>
  readonly openBrowser: (url: string) => Effect.Effect<void>
  readonly timeout?: Duration.DurationInput | undefined
}) =>
  Effect.gen(function*() {
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const redirect = yield* Deferred.make<URLSearchParams>()

    // The listener: answers the browser's redirect and hands its parameters over.
    yield* HttpServer.serveEffect(Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const url = new URL(request.url, "http://127.0.0.1")
      if (url.pathname !== "/callback") return HttpServerResponse.text("not found", { status: 404 })
      yield* Deferred.succeed(redirect, url.searchParams)
      return yield* HttpServerResponse.html`<p>Logged in. You can close this tab.</p>`
    }))
    const address = yield* HttpServer.addressWith((address) =>
      Effect.succeed(address._tag === "TcpAddress" ? address.port : 0)
    )
    // 127.0.0.1, not localhost: a name could resolve to another interface (RFC 8252 section 8.3).
    const redirectUri = `http://127.0.0.1:${address}/callback`

    const request = yield* endpoint.authorizationUrl({ redirectUri, scope: options.scope })
    yield* options.openBrowser(request.url)
    const params = yield* Deferred.await(redirect).pipe(Effect.timeout(options.timeout ?? "5 minutes"))
    return yield* endpoint.exchangeCode(request, AuthorizationCode.parseCallback(params))
  }).pipe(
    Effect.scoped,
    // A server for this login only, on a port the system chooses.
    Effect.provide(NodeHttpServer.layer(() => Http.createServer(), { port: 0, host: "127.0.0.1" }))
  )

/**
 * A browser and a user, scripted: the harness logs `account` in and the browser follows the redirect
 * to the listener.
 */
export const scriptedBrowser = (server: OidcProvider.OidcServer, account = "alice") => (url: string) =>
  Effect.gen(function*() {
    const callback = yield* server.authorize(url, account)
    const target = new URL(new URL(url).searchParams.get("redirect_uri")!)
    target.search = new URLSearchParams({
      code: callback.code,
      ...(callback.state === undefined ? {} : { state: callback.state }),
      ...(callback.iss === undefined ? {} : { iss: callback.iss })
    }).toString()
    yield* Effect.promise(() => fetch(target).then((response) => response.text()))
  })

export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const token = yield* loginWithLoopback({
    scope: ["openid", "offline_access", "api:read"],
    openBrowser: (url) =>
      Effect.zipRight(
        Console.log(
          `Open ${new URL(url).origin}/auth?... (redirect to ${new URL(url).searchParams.get("redirect_uri")})`
        ),
        scriptedBrowser(server)(url)
      )
  })
  yield* Console.log(`Logged in: ${token.tokenType} token, scopes ${token.scopes.join(" ")}`)
  yield* Console.log(
    `refresh token: ${token.refreshToken === undefined ? "none" : "yes"}, printed: ${token.accessToken}`
  )
})

const EndpointLive = Layer.unwrapEffect(
  Effect.map(
    OidcProvider.OidcProvider,
    (server) => TokenEndpoint.layerDiscovery({ issuer: server.issuer, clientId: server.clients.native.clientId })
  )
)

export const MainLive = EndpointLive.pipe(
  Layer.provideMerge(OidcProvider.layer()),
  Layer.provideMerge(NodeHttpClient.layerUndici)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.provide(program, MainLive)).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
