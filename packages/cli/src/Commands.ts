/**
 * The `tokenfx` command line: `login`, `token`, `exec`, `request`, `status` and `logout`, with the
 * exit codes of `CliError`. Only `token` prints a secret (to stdout, and nothing else); `exec` hands
 * the token to a child process through its environment.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as Path from "@effect/platform/Path"
import type * as Terminal from "@effect/platform/Terminal"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as AuthorizedClient from "@tokenfx/http/AuthorizedClient"
import type * as TokenEndpoint from "@tokenfx/http/TokenEndpoint"
import * as TokenManager from "@tokenfx/http/TokenManager"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as CliError from "./CliError.js"
import * as child from "./internal/child.js"
import * as display from "./internal/display.js"
import * as session from "./internal/session.js"
import * as Login from "./Login.js"
import * as Profile from "./Profile.js"
import * as Status from "./Status.js"

/**
 * The environment the commands run in.
 *
 * @since 0.1.0
 * @category models
 */
export type Environment =
  | HttpClient.HttpClient
  | FileSystem.FileSystem
  | Path.Path
  | Terminal.Terminal
  | CommandExecutor.CommandExecutor

const profileOption = Options.text("profile").pipe(
  Options.withAlias("p"),
  Options.withDescription("The profile to use (default: the config's default profile, else \"default\")"),
  Options.optional
)

const named = (profile: Option.Option<string>) => Option.getOrUndefined(profile)

/**
 * The exit status of a child process run by `exec`, passed on as tokenfx's own.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChildExit {
  /**
   * Tells it apart from other failures.
   *
   * @since 0.1.0
   */
  readonly _tag = "ChildExit"
  constructor(readonly code: number) {}
}

// Runs `f` on a configured profile, with its store, endpoint and token manager.
const withProfile = <A, E, R>(
  profile: Option.Option<string>,
  f: (name: string, profile: Profile.Profile) => Effect.Effect<A, E, R>
): Effect.Effect<
  A,
  CliError.CliError | ChildExit,
  | Exclude<R, TokenManager.TokenManager | TokenStore.TokenStore | TokenEndpoint.TokenEndpoint>
  | FileSystem.FileSystem
  | Path.Path
  | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const [name, found] = yield* Profile.get(named(profile))
    const { tokenDirectory } = yield* Profile.locations
    return yield* f(name, found).pipe(
      Effect.mapError((error) => error instanceof ChildExit ? error : CliError.fromError(name)(error)),
      Effect.provide(session.layer(name, found, tokenDirectory))
    )
  })

// The access token as `token` prints it and `exec` passes it on. One with control characters is no
// token a header can carry (RFC 6750's b64token), and printed it would drive the terminal.
const accessToken = (name: string) =>
  Effect.flatMap(TokenManager.TokenManager, (manager) => manager.get(name)).pipe(
    Effect.flatMap((token) => {
      const value = Redacted.value(token.accessToken)
      return display.isPrintable(value) ? Effect.succeed(value) : CliError.make(
        "Server",
        "The server issued an access token with control characters, which no request header can carry",
        `report it to the server's operators; ${CliError.loginCommand(name)} for another`
      )
    })
  )

const login = Command.make("login", {
  profile: profileOption,
  issuer: Options.text("issuer").pipe(
    Options.withDescription("The authorization server's issuer URL (its metadata is discovered)"),
    Options.optional
  ),
  provider: Options.text("provider").pipe(
    Options.withDescription("A known provider instead of --issuer: github, gitlab or google"),
    Options.optional
  ),
  clientId: Options.text("client-id").pipe(Options.withDescription("The OAuth client id"), Options.optional),
  scope: Options.text("scope").pipe(Options.withDescription("Scopes to request, space-separated"), Options.optional),
  device: Options.boolean("device").pipe(Options.withDescription("Use the device flow (the default)")),
  browser: Options.boolean("browser").pipe(
    Options.withDescription("Use the authorization code flow with PKCE and a loopback redirect")
  )
}, (options) =>
  options.device && options.browser
    ? CliError.make("Usage", "--device and --browser exclude each other", "pass one of them")
    : Login.run({
      profile: named(options.profile),
      issuer: named(options.issuer),
      provider: named(options.provider),
      clientId: named(options.clientId),
      scope: named(options.scope),
      flow: options.browser ? "browser" : "device"
    })).pipe(Command.withDescription("Log a profile in (device flow by default, --browser for code + PKCE)"))

const token = Command.make(
  "token",
  { profile: profileOption },
  ({ profile }) =>
    withProfile(profile, (name) =>
      Effect.gen(function*() {
        // The one place tokenfx prints a secret: what this command is for.
        yield* Console.log(yield* accessToken(name))
      }))
).pipe(
  Command.withDescription("Print a valid access token (refreshing first when needed) to stdout, nothing else")
)

const exec = Command.make("exec", {
  profile: profileOption,
  env: Options.text("env").pipe(
    Options.withDescription("The environment variable that carries the token"),
    Options.withDefault("ACCESS_TOKEN")
  ),
  command: Args.text({ name: "command" }).pipe(Args.atLeast(1))
}, ({ command, env, profile }) =>
  withProfile(profile, (name) =>
    Effect.gen(function*() {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) {
        return yield* CliError.make("Usage", `"${env}" is not an environment variable name`, "pass --env NAME")
      }
      const token = yield* accessToken(name)
      const [program, ...args] = command
      const code = yield* child.run(program, args, { [env]: token })
      if (code !== 0) return yield* Effect.fail(new ChildExit(code))
    }))).pipe(
    Command.withDescription("Run a command with the access token in an environment variable: tokenfx exec -- CMD ARGS")
  )

const contentType = (body: string) => {
  try {
    JSON.parse(body)
    return "application/json"
  } catch {
    return "application/x-www-form-urlencoded"
  }
}

const request = Command.make("request", {
  profile: profileOption,
  method: Options.text("method").pipe(Options.withAlias("X"), Options.withDefault("GET")),
  header: Options.text("header").pipe(
    Options.withAlias("H"),
    Options.withDescription("A request header, \"Name: value\" (repeatable)"),
    Options.repeated
  ),
  data: Options.text("data").pipe(
    Options.withAlias("d"),
    Options.withDescription("The request body"),
    Options.optional
  ),
  url: Args.text({ name: "url" })
}, (options) =>
  withProfile(options.profile, (name) =>
    Effect.gen(function*() {
      if (!URL.canParse(options.url)) {
        return yield* CliError.make("Usage", `"${options.url}" is not a URL`, "pass an absolute URL, https://...")
      }
      const url = new URL(options.url)
      let built = HttpClientRequest.make(options.method.toUpperCase() as "GET")(url)
      for (const header of options.header) {
        const at = header.indexOf(":")
        if (at <= 0) return yield* CliError.make("Usage", `"${header}" is not a header`, "write -H \"Name: value\"")
        if (header.slice(0, at).trim().toLowerCase() === "authorization") {
          return yield* CliError.make(
            "Usage",
            "An Authorization header is tokenfx's to set",
            "leave it out: tokenfx sends the profile's token"
          )
        }
        built = HttpClientRequest.setHeader(built, header.slice(0, at).trim(), header.slice(at + 1).trim())
      }
      if (Option.isSome(options.data)) {
        const type = built.headers["content-type"] ?? contentType(options.data.value)
        built = HttpClientRequest.bodyText(built, options.data.value, type)
      }
      const manager = yield* TokenManager.TokenManager
      const client = AuthorizedClient.authorize(yield* HttpClient.HttpClient, manager, {
        key: name,
        origin: url.origin
      })
      const response = yield* client.execute(built)
      const body = yield* response.text
      yield* Effect.sync(() => process.stdout.write(body))
      if (response.status >= 400) {
        return yield* CliError.make(
          "Failure",
          `${url.origin}${url.pathname} answered HTTP ${response.status}`,
          "the body above says why"
        )
      }
    }).pipe(Effect.scoped))).pipe(
    Command.withDescription("Send an authorized HTTP request (one refresh and one retry after a 401); print the body")
  )

const status = Command.make("status", {
  profile: profileOption,
  json: Options.boolean("json").pipe(Options.withDescription("Print JSON"))
}, ({ json, profile }) =>
  Effect.gen(function*() {
    const report = yield* Status.read(named(profile))
    yield* Console.log(json ? display.json(report) : Status.format(report))
    const problem = report.profiles.find((p) => p.problem !== null && (named(profile) !== undefined || p.isDefault))
    if (problem !== undefined) return yield* Effect.fail(new ChildExit(CliError.exitCodes.ReconnectRequired))
  })).pipe(Command.withDescription(
    "Show each profile's health (fresh, refresh_window, expired, dead, missing), its tokens' expiry, scopes, and where they are kept"
  ))

const logout = Command.make(
  "logout",
  { profile: profileOption },
  ({ profile }) =>
    withProfile(profile, (name, found) =>
      Effect.gen(function*() {
        const store = yield* TokenStore.TokenStore
        const manager = yield* TokenManager.TokenManager
        const stored = yield* store.get(name).pipe(
          Effect.catchTag("CorruptedToken", () => Effect.succeed(Option.none()))
        )
        if (Option.isNone(stored)) {
          yield* store.remove(name)
          return yield* Console.error(display.text(`Profile "${name}" is not logged in: nothing to revoke.`))
        }
        // Revokes where the server can, and always removes the local token.
        const revocation = yield* manager.revoke(name)
        const server = found.issuer ?? found.tokenEndpoint
        // Names and the server's words from the config file and the server: escaped, on one line.
        const report = (text: string) => Console.error(display.text(text))
        if (revocation._tag === "Revoked") {
          yield* report(`✓ Logged out of profile "${name}": the grant was revoked at ${server}.`)
        } else if (revocation._tag === "NoToken") {
          yield* report(`✓ Logged out of profile "${name}": no token was left to revoke.`)
        } else {
          const reason = revocation._tag === "Unsupported" || revocation.error._tag === "MissingEndpoint"
            ? "the server offers no revocation endpoint"
            : `the server could not revoke it (${revocation.error.message})`
          yield* report(
            `✓ Logged out of profile "${name}": the local token was removed, but ${reason}; ` +
              `it stays valid at ${server} until it expires (revoke it there to end it now).`
          )
        }
      }))
).pipe(Command.withDescription("Revoke the profile's token at the server where it can, and remove it locally"))

/**
 * The `tokenfx` command and its subcommands.
 *
 * @since 0.1.0
 * @category constructors
 */
export const command = Command.make("tokenfx").pipe(
  Command.withDescription("A credential helper for any OAuth 2.0 provider"),
  Command.withSubcommands([login, token, exec, request, status, logout])
)

/**
 * Runs the command line `argv` (as `process.argv`: the executable and script first) and answers the
 * exit code, having told the user on stderr what went wrong and what to do next.
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Environment> =>
  Command.run(command, { name: "tokenfx", version: "0.1.0" })(argv).pipe(
    Effect.exit,
    Effect.flatMap((exit) => {
      if (Exit.isSuccess(exit)) return Effect.succeed(0)
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) {
        return Effect.as(
          Console.error("tokenfx: an unexpected error occurred. Next: retry; if it persists, report it."),
          Cause.isInterruptedOnly(exit.cause) ? 130 : 1
        )
      }
      const error = failure.value
      if (error instanceof ChildExit) return Effect.succeed(error.code)
      // @effect/cli has already printed what was wrong with the command line.
      if (ValidationError.isValidationError(error)) return Effect.succeed(CliError.exitCodes.Usage)
      const translated = CliError.fromError(Profile.defaultName)(error)
      return Effect.as(Console.error(`tokenfx: ${translated.message}`), CliError.exitCodes[translated.kind])
    })
  )
