/**
 * The tokenfx demo. A real OpenID provider (oidc-provider) on 127.0.0.1 with 6-second access tokens
 * and rotating refresh tokens (reuse revokes the grant), a protected API, and an application that:
 *
 * 1. logs a user in with the authorization code flow and PKCE through a loopback redirect;
 * 2. calls the API with the token;
 * 3. refreshes ahead of expiry, rotating the refresh token, into an encrypted file store;
 * 4. makes 200 concurrent calls at expiry: one refresh between them;
 * 5. answers a 401 with one refresh and one retry;
 * 6. meets a rate-limited token endpoint and waits as `Retry-After` says;
 * 7. sees the grant revoked at the server turn into `ReconnectRequired`, with the next step;
 *
 * then prints what tokenfx's own metrics counted (the `Telemetry` metrics, labelled `client: "demo"`),
 * checked against a tap on the wire. Run it with `pnpm demo`. Nothing it prints is a secret.
 *
 * With `OAUTH_ISSUER` and `OAUTH_CLIENT_ID` (optionally `OAUTH_CLIENT_SECRET`, `OAUTH_SCOPE`,
 * `OAUTH_API_URL`) it runs against that provider through discovery instead: you log in in a browser
 * (the client must accept `http://127.0.0.1:<any port>/callback`), and the steps that need control of
 * the server (5, 6, and expiry itself) are skipped or forced.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Expiry from "@tokenfx/core/Expiry"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import * as Discovery from "@tokenfx/http/Discovery"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as EncryptedTokenStore from "@tokenfx/storage/EncryptedTokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Summary from "./demo-summary.js"
import * as Support from "./demo-support.js"
import { loginWithLoopback, scriptedBrowser } from "./loopback-login.js"

/** Where the demo runs: the embedded server (with its fault switches) or a provider of yours. */
export interface Target {
  readonly description: string
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  readonly scope: ReadonlyArray<string>
  /** The protected API; without one the API steps are skipped. */
  readonly apiUrl?: string | undefined
  /** Shows the user the authorization URL and lets them log in. */
  readonly openBrowser: (url: string) => Effect.Effect<void>
  /** The embedded server, whose faults the demo switches on; none against a real provider. */
  readonly server: Option.Option<OidcProvider.OidcServer>
}

const user = "alice"

/** The `client` label of every metric the demo's endpoint, manager and API client record. */
export const client = "demo"

// A copy of `token` that expires now: what an hour's wait does to a real provider's token.
const expireNow = (token: Token.Token, now: DateTime.Utc) => new Token.Token({ ...token, expiresAt: now })

const describeEvent = (event: TokenManager.Event): string => {
  switch (event._tag) {
    case "Refreshed":
      return `manager: refreshed, store version ${event.version}`
    case "Rotated":
      return "manager: the refresh token rotated (the old one is now dead at the server)"
    case "Adopted":
      return `manager: adopted a token another holder stored (version ${event.version})`
    case "RefreshFailed":
      return `manager: a refresh failed with ${event.error}`
    case "ReconnectSoon":
      return "manager: the refresh token expires soon; the user must reconnect unless it is refreshed first"
    case "RefreshStopped":
      return `manager: stopped refreshing: ${event.error}`
    case "StoreWriteFailed":
      return `manager: could not store the new token yet: ${event.error}`
    case "StoreWriteRecovered":
      return `manager: stored the new token (version ${event.version})`
    case "ReconnectRequired":
      return `manager: the grant is dead, the token removed from the store`
    case "Revoked":
      return "manager: revoked"
  }
}

export const program = (target: Target) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const at = Support.stamp(start)
    const say = (text: string) => Effect.flatMap(at, (time) => Console.log(`${time} ${text}`))
    const wire = yield* DemoWire
    const server = target.server
    const manager = yield* TokenManager.TokenManager
    const store = yield* TokenStore.TokenStore
    const fs = yield* FileSystem.FileSystem
    const directory = yield* DemoDirectory
    const policy = yield* DemoPolicy
    const skipped: Array<string> = []
    // Metrics live as long as the process: the summary counts what this run added.
    const baseline = yield* Support.readMetrics(client)

    yield* Console.log(`tokenfx demo against ${target.description}\n`)
    yield* manager.events.pipe(Stream.runForEach((event) => say(`    ${describeEvent(event)}`)), Effect.forkScoped)

    // 1. Login.
    yield* Console.log("1. Login: authorization code + PKCE, redirect to a loopback listener (RFC 8252)")
    const token = yield* loginWithLoopback({
      scope: target.scope,
      openBrowser: (url) => {
        const params = new URL(url).searchParams
        return Effect.zipRight(
          say(
            `    redirect_uri ${params.get("redirect_uri")}, code_challenge_method ${
              params.get("code_challenge_method")
            }`
          ),
          target.openBrowser(url)
        )
      }
    })
    const lifetime = token.expiresAt === undefined
      ? "no expiry"
      : Duration.format(Duration.millis(DateTime.distance(token.issuedAt, token.expiresAt)))
    yield* say(`    ${token.tokenType} token for ${user}, lifetime ${lifetime}, scopes: ${token.scopes.join(" ")}`)
    yield* say(`    access token: ${token.accessToken}, refresh token: ${token.refreshToken ?? "none"}`)
    yield* manager.set(user, token)
    const files = (yield* fs.readDirectory(directory)).filter((name) => name.endsWith(".json"))
    const file = `${directory}/${files[0]}`
    const fileMode = ((yield* fs.stat(file)).mode & 0o777).toString(8)
    const dirMode = ((yield* fs.stat(directory)).mode & 0o777).toString(8)
    const plain = (yield* fs.readFileString(file)).includes(Redacted.value(token.accessToken))
    yield* say(
      `    stored AES-256-GCM encrypted: file mode ${fileMode}, directory ${dirMode}, token readable in the file: ${plain}`
    )

    // 2. An authorized call.
    const api = AuthorizedClient.authorize(yield* HttpClient.HttpClient, manager, {
      key: user,
      origin: new URL(target.apiUrl ?? target.issuer).origin,
      clientLabel: client
    })
    // Calls the application made; the wire saw more when a 401 was retried.
    let calls = 0
    const call = target.apiUrl === undefined
      ? Effect.succeed(0)
      : Effect.suspend(() => {
        calls++
        return api.get(target.apiUrl!)
      }).pipe(
        Effect.tap(HttpClientResponse.filterStatusOk),
        Effect.map((response) => response.status),
        Effect.scoped
      )
    yield* Console.log("\n2. An authorized call")
    if (target.apiUrl === undefined) {
      skipped.push("2, 4 (no OAUTH_API_URL)")
      yield* say("    skipped: set OAUTH_API_URL to an API that takes this token")
    } else {
      yield* say(`    GET ${new URL(target.apiUrl).pathname} -> ${yield* call}`)
    }

    // 3. Proactive refresh with rotation.
    yield* Console.log("\n3. Proactive refresh: inside the refresh window, before expiry, with rotation")
    const refreshAt = Expiry.refreshAt(token, policy)
    if (Option.isSome(server) && refreshAt !== undefined && token.expiresAt !== undefined) {
      const wait = DateTime.distance(yield* DateTime.now, refreshAt) + 100
      yield* Effect.sleep(Duration.millis(Math.max(0, wait)))
      const left = DateTime.distance(yield* DateTime.now, token.expiresAt)
      yield* say(`    the token is still valid for ${(left / 1000).toFixed(1)} s; the next use refreshes it`)
    } else {
      skipped.push("3 (forced: a real provider's token lives too long to wait for)")
      yield* manager.set(user, expireNow(token, yield* DateTime.now))
      yield* say("    forced: a real provider's token lives too long to wait for its refresh window")
    }
    const refreshed = yield* manager.get(user)
    const entry = yield* store.get(user)
    yield* say(
      `    new token until ${refreshed.expiresAt === undefined ? "-" : DateTime.formatIso(refreshed.expiresAt)}, ` +
        `store version ${Option.match(entry, { onNone: () => "-", onSome: (e) => String(e.version) })}, ` +
        `file mode ${((yield* fs.stat(file)).mode & 0o777).toString(8)}`
    )

    // 4. 200 concurrent calls at expiry.
    if (target.apiUrl !== undefined) {
      yield* Console.log("\n4. 200 concurrent calls at the moment the token expires")
      if (Option.isSome(server) && refreshed.expiresAt !== undefined) {
        const wait = DateTime.distance(yield* DateTime.now, refreshed.expiresAt)
        yield* Effect.sleep(Duration.millis(Math.max(0, wait)))
        yield* say("    the token has just expired")
      } else {
        yield* manager.set(user, expireNow(refreshed, yield* DateTime.now))
        yield* say("    forced: the token marked expired")
      }
      const before = wire.refreshed
      const statuses = yield* Effect.all(Array.from({ length: 200 }, () => call), { concurrency: "unbounded" })
      yield* say(
        `    ${statuses.filter((s) => s === 200).length} x 200 OK, ${wire.refreshed - before} refresh between them`
      )
    }

    // 5. A 401 answered by one refresh and one retry.
    yield* Console.log("\n5. The API answers 401: one refresh, one retry")
    if (Option.isSome(server) && target.apiUrl !== undefined) {
      yield* server.value.invalidateAccessTokens(user)
      yield* say("    the server forgot its access tokens (a key rotation, a cache flush)")
      const before = { ...wire }
      const status = yield* call
      yield* say(
        `    GET -> ${status} after ${wire.unauthorized - before.unauthorized} x 401, ` +
          `${wire.refreshed - before.refreshed} refresh, ${wire.apiCalls - before.apiCalls - 1} retry`
      )
    } else {
      skipped.push("5 (needs the embedded server)")
      yield* say("    skipped: needs the embedded server")
    }

    // 6. A rate-limited token endpoint.
    yield* Console.log("\n6. The token endpoint rate-limits: back off as Retry-After says")
    if (Option.isSome(server)) {
      // The next refresh, when the current token enters its refresh window, is answered 429.
      const current = yield* manager.get(user)
      const due = Expiry.refreshAt(current, policy)
      if (due !== undefined) {
        yield* Effect.sleep(Duration.millis(Math.max(0, DateTime.distance(yield* DateTime.now, due) + 100)))
      }
      yield* server.value.rateLimitTokenEndpoint(1, 2)
      yield* say("    the token endpoint now answers 429 with Retry-After: 2 (once); the token is due for refresh")
      const before = { ...wire }
      const began = yield* Clock.currentTimeMillis
      yield* manager.get(user)
      const took = (yield* Clock.currentTimeMillis) - began
      yield* say(
        `    ${wire.rateLimited - before.rateLimited} x 429 (Retry-After: 2), waited ` +
          `${((wire.waitedMillis - before.waitedMillis) / 1000).toFixed(1)} s, then refreshed ` +
          `(${(took / 1000).toFixed(1)} s in all)`
      )
    } else {
      skipped.push("6 (needs the embedded server)")
      yield* say("    skipped: needs the embedded server")
    }

    // 7. The grant revoked at the server.
    yield* Console.log("\n7. The grant is revoked at the server")
    if (Option.isSome(server)) {
      yield* server.value.revokeGrants(user)
      yield* say("    an administrator revoked alice's grant")
    } else {
      yield* manager.revoke(user).pipe(Effect.catchAll((error) => say(`    the revocation failed: ${error.message}`)))
      yield* manager.set(user, expireNow(refreshed, yield* DateTime.now))
      yield* say("    revoked at the server (RFC 7009); the application still holds the old, now expired, token")
    }
    const outcome = yield* Effect.either(
      target.apiUrl === undefined ? Effect.asVoid(manager.get(user)) : Effect.asVoid(call)
    )
    if (Either.isLeft(outcome)) {
      yield* say(`    ${outcome.left._tag}: ${outcome.left.message}`)
      if (outcome.left._tag === "ReconnectRequired") {
        yield* say(`    next step: send ${user} through the login again (step 1; from a shell, "tokenfx login")`)
      }
    } else {
      yield* say("    unexpected: the call succeeded")
    }
    yield* say(`    the dead grant is gone from the store: ${Option.isNone(yield* store.get(user))}`)

    // The summary: tokenfx's metrics, checked against the wire tap.
    const wall = ((yield* Clock.currentTimeMillis) - start) / 1000
    const metrics = Support.since(baseline, yield* Support.readMetrics(client))
    const summary = Summary.fromMetrics(metrics)
    const listed = (pairs: ReadonlyArray<readonly [string, number]>) =>
      pairs.length === 0 ? "" : ` (${pairs.map(([name, n]) => `${name} ${n}`).join(", ")})`
    yield* Console.log(`\nWhat tokenfx's metrics counted (client "${client}")`)
    for (
      const line of Support.table([
        ["token requests", `${summary.requests}${listed(summary.requestsByOutcome)}`],
        ...(summary.otherRequests.length === 0
          ? []
          : [["other requests", listed(summary.otherRequests).slice(2, -1)] as const]),
        ["refreshes", String(summary.refreshes)],
        ["refresh latency, mean", `${summary.refreshMillis.toFixed(0)} ms`],
        ["resource 401 answers", String(summary.unauthorized)],
        ["rate-limit waits", `${summary.rateLimitWaits}${listed(summary.rateLimitWaitsByOperation)}`],
        ["reconnects required", `${summary.reconnects}${listed(summary.reconnectsByReason)}`],
        ["keys held, by state", listed(summary.held).slice(2, -1) || "none"],
        ["wall time", `${wall.toFixed(1)} s`]
      ])
    ) yield* Console.log(line)
    const wireSaw = `${wire.tokenCalls} token endpoint calls (${wire.refreshed} refreshed), ` +
      `${wire.unauthorized} x 401 from the API, ${wire.rateLimited} x 429 then ` +
      `${(wire.waitedMillis / 1000).toFixed(1)} s waited, ${wire.apiCalls} API calls (${wire.apiCalls - calls} retried)`
    const disagreements = Summary.check(summary, wire)
    yield* Console.log(
      disagreements.length === 0
        ? `The wire tap agrees: ${wireSaw}`
        : `The wire tap DISAGREES (${disagreements.join("; ")}): ${wireSaw}`
    )
    if (skipped.length > 0) yield* Console.log(`Skipped or forced: ${skipped.join("; ")}`)
    yield* Console.log("No token or secret was printed: they are Redacted from the moment they are decoded.")
    return { wire, summary, disagreements }
  })

class DemoDirectory extends Effect.Tag("DemoDirectory")<DemoDirectory, string>() {}
class DemoWire extends Effect.Tag("DemoWire")<DemoWire, Support.Wire>() {}
class DemoPolicy extends Effect.Tag("DemoPolicy")<DemoPolicy, Expiry.Policy>() {}

// oidc-provider counts lifetimes in whole seconds: allow for it.
const policy = Expiry.policy({ fraction: 0.25, skew: "1 second" })

/** The demo's services for `target`: discovery, an encrypted file store in a temporary directory, the wire tap. */
export const layer = (target: Target) => {
  const wire = Support.makeWire()
  const Directory = Layer.scoped(
    DemoDirectory,
    Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "tokenfx-demo-" })).pipe(
      Effect.map((dir) => `${dir}/tokens`)
    )
  )
  const Store = Layer.unwrapEffect(Effect.gen(function*() {
    const directory = yield* DemoDirectory
    const keyRing = yield* EncryptedTokenStore.makeKeyRing({ current: yield* EncryptedTokenStore.generateKey })
    return EncryptedTokenStore.layer(keyRing).pipe(Layer.provide(FileTokenStore.layerRaw(directory)))
  }))
  const Endpoint = Layer.effect(
    TokenEndpoint.TokenEndpoint,
    Effect.gen(function*() {
      const metadata = yield* Discovery.discover(target.issuer)
      wire.tokenEndpoint = metadata.token_endpoint ?? ""
      wire.jwksUri = metadata.jwks_uri ?? ""
      const options = yield* TokenEndpoint.fromMetadata(metadata, {
        issuer: target.issuer,
        clientId: target.clientId,
        clientSecret: target.clientSecret,
        clientLabel: client
      })
      return yield* TokenEndpoint.make(options)
    })
  )
  // The demo's time is compressed (6-second tokens): so is the window within which a second 401 is not
  // answered with another refresh (30 s by default).
  return TokenManager.layer({ policy, invalidationWindow: "2 seconds", clientLabel: client }).pipe(
    Layer.provideMerge(Store),
    Layer.provideMerge(Endpoint),
    Layer.provideMerge(Directory),
    Layer.provideMerge(Layer.succeed(DemoWire, wire)),
    Layer.provideMerge(Layer.succeed(DemoPolicy, policy)),
    Layer.provideMerge(Support.tap(wire)),
    Layer.provideMerge(NodeHttpClient.layerUndici),
    Layer.provideMerge(NodeContext.layer)
  )
}

/** The embedded server: access tokens live 6 s, refresh tokens rotate with reuse detection. */
export const embedded = (server: OidcProvider.OidcServer): Target => ({
  description: `oidc-provider at ${server.issuer} (access tokens live 6 s; refresh tokens rotate, reuse revokes)`,
  issuer: server.issuer,
  clientId: server.clients.native.clientId,
  scope: ["openid", "offline_access", "api:read"],
  apiUrl: server.resourceUrl,
  openBrowser: scriptedBrowser(server, user),
  server: Option.some(server)
})

/** A provider of yours, from OAUTH_ISSUER, OAUTH_CLIENT_ID and the optional settings. */
export const external = Config.all({
  issuer: Config.string("OAUTH_ISSUER"),
  clientId: Config.string("OAUTH_CLIENT_ID"),
  clientSecret: Config.option(Config.redacted("OAUTH_CLIENT_SECRET")),
  scope: Config.string("OAUTH_SCOPE").pipe(Config.withDefault("openid offline_access")),
  apiUrl: Config.option(Config.string("OAUTH_API_URL"))
}).pipe(Config.map((config): Target => ({
  description: `${config.issuer} (discovered)`,
  issuer: config.issuer,
  clientId: config.clientId,
  clientSecret: Option.getOrUndefined(config.clientSecret),
  scope: config.scope.split(" ").filter((s) => s.length > 0),
  apiUrl: Option.getOrUndefined(config.apiUrl),
  openBrowser: (url) => Console.log(`\n    Open this URL in a browser and log in:\n\n    ${url}\n`),
  server: Option.none()
})))

/** Runs the demo against the embedded server, or against OAUTH_ISSUER when it is set. */
export const main = Effect.gen(function*() {
  const configured = yield* Effect.either(external)
  if (Either.isRight(configured)) {
    return yield* Effect.scoped(Effect.provide(program(configured.right), layer(configured.right)))
  }
  return yield* Effect.scoped(Effect.gen(function*() {
    const server = yield* OidcProvider.make({ accessTokenTtl: 6 })
    const target = embedded(server)
    return yield* Effect.provide(program(target), layer(target))
  }))
})

if (import.meta.url === `file://${process.argv[1]}`) {
  main.pipe(Logger.withMinimumLogLevel(LogLevel.None), Effect.runPromise).then(
    () => process.exit(0),
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}
