/**
 * The device flow (RFC 8628) for a command-line tool or a device without a browser: show the user a
 * code and where to enter it, poll at the server's interval (slower after each `slow_down`) until they
 * approve, then keep the token in a file store (0600 in a 0700 directory) for the next run.
 * `tokenfx login` is this, with a spinner.
 *
 * Run it with `pnpm --filter @tokenfx/examples device-flow`: the embedded server plays the provider
 * and approves the code a moment later, as the user would in their browser.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const program = Effect.gen(function*() {
  const server = yield* OidcProvider.OidcProvider
  const endpoint = yield* TokenEndpoint.TokenEndpoint
  const store = yield* TokenStore.TokenStore

  const pending = yield* endpoint.deviceAuthorization({ scope: ["openid", "offline_access", "api:read"] })
  yield* Console.log(`Open ${pending.verificationUri} and enter the code ${pending.userCode}`)

  // The user, in their browser, a second later.
  yield* Effect.forkScoped(Effect.delay(server.approveDevice(pending.userCode, "alice"), "1 second"))

  // The embedded server allows polling every second; against a real provider keep its interval.
  const token = yield* endpoint.pollDeviceToken(pending, { interval: "1 second" })
  yield* store.set("cli-user", token)
  yield* Console.log(
    `Approved: ${token.tokenType} token, scopes ${token.scopes.join(" ")}, refresh token: ${
      token.refreshToken === undefined ? "no" : "yes"
    }`
  )
  const fs = yield* FileSystem.FileSystem
  const directory = yield* TokenDirectory
  for (const name of yield* fs.readDirectory(directory)) {
    yield* Console.log(`stored in ${name}, mode ${((yield* fs.stat(`${directory}/${name}`)).mode & 0o777).toString(8)}`)
  }
})

class TokenDirectory extends Effect.Tag("TokenDirectory")<TokenDirectory, string>() {}

const DirectoryLive = Layer.scoped(
  TokenDirectory,
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped()).pipe(Effect.map((dir) => `${dir}/tokens`))
)

const StoreLive = Layer.unwrapEffect(Effect.map(TokenDirectory, (dir) => FileTokenStore.layerFileSystem(dir)))

const EndpointLive = Layer.unwrapEffect(Effect.map(OidcProvider.OidcProvider, (server) =>
  // A public client: a CLI cannot keep a secret.
  TokenEndpoint.layerDiscovery({ issuer: server.issuer, clientId: server.clients.public.clientId })))

export const MainLive = Layer.mergeAll(StoreLive, EndpointLive).pipe(
  Layer.provideMerge(DirectoryLive),
  Layer.provideMerge(OidcProvider.layer()),
  Layer.provideMerge(NodeHttpClient.layerUndici),
  Layer.provideMerge(NodeContext.layer)
)

if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(Effect.scoped(Effect.provide(program, MainLive))).catch((error) => {
    console.error(error)
    process.exit(1)
  })
}
