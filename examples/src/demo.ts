/**
 * The tokenfx demo: a real OpenID provider (oidc-provider) on 127.0.0.1 with 2-second access tokens
 * and rotating refresh tokens, and an application that logs a user in, calls a protected API through
 * expiries, survives a 401, and is told to reconnect when an administrator revokes the grant.
 *
 * Run it with `pnpm demo`. Nothing it prints is a secret: tokens stay `Redacted` throughout.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Expiry from "@tokenfx/core/Expiry"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// What the harness's protected resource answers.
const ResourceAnswer = Schema.Struct({ sub: Schema.String, scope: Schema.optional(Schema.String) })

const seconds = (from: number, to: number) => `${((to - from) / 1000).toFixed(1)} s`

const describeEvent = (event: TokenManager.Event): string => {
  switch (event._tag) {
    case "Refreshed":
      return `refreshed "${event.key}" (version ${event.version})`
    case "Rotated":
      return `rotated the refresh token of "${event.key}"`
    case "Adopted":
      return `adopted a token another holder stored for "${event.key}"`
    case "RefreshFailed":
      return `refresh of "${event.key}" failed: ${event.error}`
    case "ReconnectRequired":
      return `"${event.key}" must reconnect`
    case "RefreshStopped":
      return `stopped refreshing "${event.key}": ${event.error}`
    case "StoreWriteFailed":
      return `could not store the new token of "${event.key}" yet: ${event.error}`
    case "StoreWriteRecovered":
      return `stored the new token of "${event.key}" (version ${event.version})`
    case "Revoked":
      return `revoked "${event.key}"`
  }
}

export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const started = yield* DateTime.now.pipe(Effect.map(DateTime.toEpochMillis))
  const at = Effect.map(DateTime.now, (now) => `[${seconds(started, DateTime.toEpochMillis(now))}]`)
  yield* Console.log(`Authorization server: oidc-provider at ${server.issuer}`)
  yield* Console.log(`  access tokens live 2 s; refresh tokens rotate, and a reused one revokes the whole grant\n`)

  // 1. Discovery, then a login with the authorization code flow and PKCE.
  const endpoint = yield* TokenEndpoint.TokenEndpoint
  const request = yield* endpoint.authorizationUrl({
    redirectUri: server.redirectUri,
    scope: ["openid", "offline_access", "api:read"]
  })
  yield* Console.log(
    `1. Login: authorization code + PKCE (S256 challenge ${
      new URL(request.url).searchParams.get("code_challenge")?.slice(0, 8)
    }...)`
  )
  const callback = yield* server.authorize(request.url, "alice")
  const token = yield* endpoint.exchangeCode(request, callback)
  const lifetime = token.expiresAt === undefined
    ? "no expiry"
    : Duration.format(Duration.millis(DateTime.distance(token.issuedAt, token.expiresAt)))
  yield* Console.log(`   ${token.tokenType} token for alice, lifetime ${lifetime}, scopes: ${token.scopes.join(" ")}`)
  yield* Console.log(`   access token: ${token.accessToken}, refresh token: ${token.refreshToken}`)
  const refreshAt = Expiry.refreshAt(token)!
  yield* Console.log(
    `   refresh from ${Duration.format(Duration.millis(DateTime.distance(token.issuedAt, refreshAt)))} after issue`
  )

  // 2. Keep it in an encrypted file store, and let the manager keep it fresh.
  const manager = yield* TokenManager.TokenManager
  yield* manager.set("alice", token)
  const directory = yield* DemoDirectory
  const fs = yield* FileSystem.FileSystem
  const files = yield* fs.readDirectory(directory)
  const mode = (yield* fs.stat(`${directory}/${files[0]}`)).mode & 0o777
  yield* Console.log(`   stored AES-256-GCM encrypted in ${files.length} file, mode ${mode.toString(8)}\n`)
  yield* manager.events.pipe(
    Stream.runForEach((event) =>
      Effect.flatMap(at, (time) => Console.log(`   ${time} event: ${describeEvent(event)}`))
    ),
    Effect.forkScoped
  )

  // 3. Call the API through several expiries: the manager refreshes once per expiry, the client retries a 401.
  yield* Console.log(`2. Twelve API calls over 6 s through AuthorizedClient (3 concurrent each time)`)
  const api = yield* AuthorizedClient.AuthorizedClient
  const call = api.get(server.resourceUrl).pipe(
    Effect.flatMap(HttpClientResponse.schemaBodyJson(ResourceAnswer)),
    Effect.scoped
  )
  for (let round = 0; round < 4; round++) {
    const answers = yield* Effect.all([call, call, call], { concurrency: "unbounded" })
    yield* Console.log(`   ${yield* at} 3 x 200 OK, sub=${answers[0].sub}`)
    yield* Effect.sleep("1500 millis")
  }
  const stats = yield* server.stats
  yield* Console.log(
    `   server saw ${stats.tokenRequests["refresh_token"] ?? 0} refreshes, ` +
      `${stats.grantErrors["invalid_grant"] ?? 0} invalid_grant, ${stats.resourceRequests} API calls\n`
  )

  // 4. An administrator revokes the grant: the next refresh finds it dead and asks the user to reconnect.
  yield* Console.log(`3. An administrator revokes alice's grant at the server`)
  yield* server.revokeGrants("alice")
  yield* Effect.sleep("2 seconds")
  const failure = yield* Effect.flip(call)
  yield* Console.log(`   ${yield* at} the next call fails with ${failure._tag}: ${failure.message}`)
  const stored = yield* TokenStore.TokenStore.pipe(Effect.flatMap((store) => store.get("alice")))
  yield* Console.log(`   the dead grant is gone from the store: ${Option.isNone(stored)}\n`)

  // 5. A machine client: client credentials, no user, no refresh token.
  yield* Console.log(`4. A machine client (client credentials)`)
  const machine = yield* endpoint.clientCredentials({ scope: ["api:read"] })
  yield* Console.log(
    `   ${machine.tokenType} token, scopes: ${machine.scopes.join(" ")}, refresh token: ${
      machine.refreshToken ?? "none"
    }`
  )
  yield* Console.log(`\nDone. No token or secret was printed: they are Redacted from the moment they are decoded.`)
})

class DemoDirectory extends Effect.Tag("DemoDirectory")<DemoDirectory, string>() {}

const DirectoryLive = Layer.scoped(
  DemoDirectory,
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "tokenfx-demo-" })).pipe(
    Effect.map((dir) => `${dir}/tokens`)
  )
)

const ServerLive = OidcProvider.layer({ accessTokenTtl: 2 })

const EndpointLive = Layer.unwrapEffect(
  Effect.map(OidcProvider.OidcProvider, (server) =>
    TokenEndpoint.layerDiscovery({
      issuer: server.issuer,
      clientId: server.clients.basic.clientId,
      clientSecret: server.clients.basic.clientSecret
    }))
)

// Tokens at rest: AES-256-GCM over files that only this user can read, written atomically.
const StoreLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const directory = yield* DemoDirectory
    const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
    return EncryptedTokenStore.layer(keyRing).pipe(Layer.provide(FileTokenStore.layerRaw(directory)))
  })
)

const ManagerLive = TokenManager.layer({
  // oidc-provider counts lifetimes in whole seconds: allow for it.
  policy: Expiry.policy({ skew: "1 second" })
})

const ApiLive = Layer.unwrapEffect(
  Effect.map(OidcProvider.OidcProvider, (server) => AuthorizedClient.layer({ key: "alice", origin: server.issuer }))
)

export const DemoLive = ApiLive.pipe(
  Layer.provideMerge(ManagerLive),
  Layer.provideMerge(StoreLive),
  Layer.provideMerge(EndpointLive),
  Layer.provideMerge(DirectoryLive),
  Layer.provideMerge(ServerLive),
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(NodeContext.layer)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  program.pipe(
    Effect.scoped,
    Effect.provide(DemoLive),
    Logger.withMinimumLogLevel(LogLevel.None),
    Effect.runPromise
  ).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
