/**
 * Logging a profile in: the profile from flags (discovering the server's endpoints) or from the config
 * file, then the device flow (RFC 8628, the default) or the authorization code flow with PKCE through
 * a loopback redirect (RFC 8252, `--browser`), the token written to the store and the profile saved.
 * Everything is written to stderr: `login` prints nothing to stdout, so scripts can chain it.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import type * as Token from "@tokenfx/core/Token"
import * as AuthorizationCode from "@tokenfx/http/AuthorizationCode"
import * as Discovery from "@tokenfx/http/Discovery"
import * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as CliError from "./CliError.js"
import * as browser from "./internal/browser.js"
import * as display from "./internal/display.js"
import * as loopback from "./internal/loopback.js"
import * as providers from "./internal/providers.js"
import * as session from "./internal/session.js"
import * as terminal from "./internal/terminal.js"
import * as Profile from "./Profile.js"

/**
 * What `tokenfx login` was asked.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly profile?: string | undefined
  readonly issuer?: string | undefined
  readonly provider?: string | undefined
  readonly clientId?: string | undefined
  readonly scope?: string | undefined
  readonly flow: "device" | "browser"
  /** How long to wait for the browser's redirect. Default 5 minutes. */
  readonly timeout?: Duration.DurationInput | undefined
}

const parseScope = (scope: string | undefined) =>
  scope === undefined ? undefined : scope.split(/[\s,]+/).filter((s) => s.length > 0)

// Without --scope: OpenID Connect's `openid`, and `offline_access` (a refresh token) where offered, as
// `gh` and `gcloud` ask for what a command-line session needs.
const defaultScope = (supported: ReadonlyArray<string> | undefined): ReadonlyArray<string> | undefined => {
  if (supported === undefined) return undefined
  const scope = ["openid", "offline_access"].filter((s) => supported.includes(s))
  return scope.length === 0 ? undefined : scope
}

/**
 * The profile a login uses: built from `--issuer` (through discovery) or `--provider`, else the stored
 * one with the flags given applied.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveProfile = (
  name: string,
  existing: Profile.Profile | undefined,
  options: Options
): Effect.Effect<Profile.Profile, CliError.CliError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const scope = parseScope(options.scope)
    const known = options.provider === undefined ? undefined : providers.find(options.provider)
    if (options.provider !== undefined && known === undefined) {
      return yield* CliError.make(
        "Usage",
        `Unknown provider "${options.provider}"`,
        `use one of ${providers.names.join(", ")}, or --issuer <URL>`
      )
    }
    const clientId = options.clientId ?? existing?.clientId
    if (clientId === undefined) {
      return yield* CliError.make(
        "Configuration",
        `Profile "${name}" has no client id`,
        `register a client with your provider and run "tokenfx login${Profile.flag(name)} --client-id <ID> ${
          options.issuer === undefined && known === undefined ? "--issuer <URL>" : ""
        }"`.replace(/ "$/, "\"")
      )
    }
    const issuer = options.issuer ?? known?.issuer
    if (known?.endpoints !== undefined) {
      return new Profile.Profile({ ...known.endpoints, clientId, scope: scope ?? known.scope })
    }
    if (issuer === undefined) {
      if (existing !== undefined) {
        return new Profile.Profile({ ...existing, clientId, scope: scope ?? existing.scope })
      }
      return yield* CliError.make(
        "Configuration",
        `No profile "${name}" is configured`,
        `run "tokenfx login${Profile.flag(name)} --issuer <URL> --client-id ${clientId}"`
      )
    }
    const metadata = yield* Discovery.discover(issuer).pipe(
      Effect.mapError((error) =>
        error._tag === "IssuerMismatch"
          ? CliError.make("Configuration", error.message, "pass the issuer exactly as the server names itself")
          : CliError.make(
            error._tag === "TransportError" || error._tag === "ServerError" ? "Server" : "Configuration",
            `Cannot read the metadata of ${issuer}: ${error.message}`,
            "check the issuer URL (its /.well-known/openid-configuration must answer) and the network"
          )
      )
    )
    const resolved = yield* Either.mapLeft(
      TokenEndpoint.fromMetadata(metadata, { issuer, clientId }),
      (error) => CliError.make("Configuration", error.message, "this server's metadata names no token endpoint")
    )
    return new Profile.Profile({
      issuer: resolved.issuer,
      clientId,
      scope: scope ?? known?.scope ?? existing?.scope ?? defaultScope(metadata.scopes_supported),
      tokenEndpoint: resolved.tokenEndpoint,
      authorizationEndpoint: resolved.authorizationEndpoint,
      deviceAuthorizationEndpoint: resolved.deviceAuthorizationEndpoint,
      revocationEndpoint: resolved.revocationEndpoint,
      requireIssuer: resolved.requireIssuer,
      clientAuthentication: resolved.clientAuthentication
    })
  })

/**
 * The device flow: shows the code and where to enter it, then polls (a spinner on a terminal) at the
 * server's interval, slower after each `slow_down`, until the user approves, denies, or the code
 * expires.
 *
 * @since 0.1.0
 * @category constructors
 */
export const device = (
  name: string,
  profile: Profile.Profile
): Effect.Effect<Token.Token, CliError.CliError, TokenEndpoint.TokenEndpoint> =>
  Effect.gen(function*() {
    if (profile.deviceAuthorizationEndpoint === undefined) {
      return yield* CliError.make(
        "Configuration",
        "This server does not offer the device flow",
        `run "tokenfx login${Profile.flag(name)} --browser"`
      )
    }
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const authorization = yield* endpoint.deviceAuthorization({ scope: profile.scope })
    yield* Console.error(`! First copy your one-time code: ${authorization.userCode}`)
    yield* Console.error(`Then open ${authorization.verificationUri} in a browser and enter it.`)
    if (authorization.verificationUriComplete !== undefined) {
      yield* Console.error(`(Or open ${authorization.verificationUriComplete}, which carries the code.)`)
    }
    const message = Effect.map(DateTime.now, (now) => {
      const left = Math.max(0, DateTime.distance(now, authorization.expiresAt))
      return `Waiting for approval (the code expires in ${Duration.format(Duration.seconds(Math.ceil(left / 1000)))})`
    })
    return yield* Effect.scoped(
      Effect.zipRight(terminal.spinner(message), endpoint.pollDeviceToken(authorization))
    )
  }).pipe(Effect.mapError(CliError.fromError(name)))

/**
 * The authorization code flow with PKCE through a loopback redirect listener (RFC 8252): prints the
 * URL, opens a browser where there is one, waits for the redirect, checks its `state` and `iss`, and
 * exchanges the code.
 *
 * @since 0.1.0
 * @category constructors
 */
export const browserFlow = (
  name: string,
  profile: Profile.Profile,
  timeout: Duration.DurationInput = Duration.minutes(5)
): Effect.Effect<Token.Token, CliError.CliError, TokenEndpoint.TokenEndpoint | CommandExecutor.CommandExecutor> =>
  Effect.scoped(Effect.gen(function*() {
    if (profile.authorizationEndpoint === undefined) {
      return yield* CliError.make(
        "Configuration",
        "This server does not offer the authorization code flow",
        `run "tokenfx login${Profile.flag(name)}" (the device flow)`
      )
    }
    const endpoint = yield* TokenEndpoint.TokenEndpoint
    const listener = yield* loopback.listen
    const request = yield* endpoint.authorizationUrl({ redirectUri: listener.redirectUri, scope: profile.scope })
    yield* listener.expect(request.state)
    yield* Console.error(`Open this URL in a browser to log in:\n\n  ${request.url}\n`)
    if (yield* browser.open(request.url)) yield* Console.error("(A browser was opened for you.)")
    const params = yield* Effect.scoped(
      Effect.zipRight(
        terminal.spinner(Effect.succeed(`Waiting for the redirect to ${listener.redirectUri}`)),
        listener.callback
      )
    ).pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          CliError.make(
            "Failure",
            `No redirect arrived within ${Duration.format(Duration.decode(timeout))}`,
            `run "tokenfx login${Profile.flag(name)} --browser" again and complete the login in the browser`
          )
      })
    )
    return yield* endpoint.exchangeCode(request, AuthorizationCode.parseCallback(params))
  })).pipe(Effect.mapError(CliError.fromError(name)))

const describeExpiry = (token: Token.Token, now: DateTime.Utc): string =>
  token.expiresAt === undefined
    ? "does not expire"
    : `expires in ${Duration.format(Duration.seconds(Math.round(DateTime.distance(now, token.expiresAt) / 1000)))}`

/**
 * Runs `tokenfx login`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (
  options: Options
): Effect.Effect<
  void,
  CliError.CliError,
  HttpClient.HttpClient | FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor
> =>
  Effect.gen(function*() {
    const config = yield* Profile.load
    const name = yield* Profile.checkName(Profile.resolveName(config, options.profile))
    const profile = yield* resolveProfile(name, Profile.find(config, name), options)
    const { tokenDirectory } = yield* Profile.locations
    const token = yield* Effect.gen(function*() {
      const token = options.flow === "browser"
        ? yield* browserFlow(name, profile, options.timeout)
        : yield* device(name, profile)
      const manager = yield* TokenManager.TokenManager
      yield* manager.set(name, token).pipe(Effect.mapError(CliError.fromError(name)))
      return token
    }).pipe(Effect.provide(session.layer(name, profile, tokenDirectory)))
    // Merged into the file as it is now: other logins may have saved their profiles meanwhile.
    yield* Profile.update((current) => ({ ...current, profiles: { ...current.profiles, [name]: profile } }))
    const now = yield* DateTime.now
    // The issuer and name come from the config file, the scopes from the server.
    yield* Console.error(display.text(
      `✓ Logged in${profile.issuer === undefined ? "" : ` to ${profile.issuer}`} as profile "${name}" ` +
        `(scopes: ${token.scopes.length === 0 ? "none" : token.scopes.join(" ")}; the access token ${
          describeExpiry(token, now)
        })`
    ))
  })
