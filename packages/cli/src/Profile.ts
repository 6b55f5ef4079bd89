/**
 * Profiles: which authorization server and client each named login uses, kept in
 * `<config dir>/tokenfx/config.json` (the config dir is `$TOKENFX_CONFIG_DIR`, else
 * `$XDG_CONFIG_HOME/tokenfx`, else `~/.config/tokenfx`). Tokens are not in this file: they live in the
 * token store beside it (`tokens/`, 0600 files in a 0700 directory).
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Json from "@tokenfx/core/Json"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as CliError from "./CliError.js"
import * as files from "./internal/configFile.js"
import * as configLock from "./internal/configLock.js"

/**
 * One profile: the server's endpoints (discovered at login and kept, so that `tokenfx token` needs no
 * network while the token is fresh) and the client.
 *
 * @since 0.1.0
 * @category models
 */
export class Profile extends Schema.Class<Profile>("@tokenfx/cli/Profile")({
  issuer: Schema.optional(Schema.String),
  clientId: Schema.NonEmptyString,
  scope: Schema.optional(Schema.Array(Schema.String)),
  tokenEndpoint: Schema.NonEmptyString,
  authorizationEndpoint: Schema.optional(Schema.String),
  deviceAuthorizationEndpoint: Schema.optional(Schema.String),
  revocationEndpoint: Schema.optional(Schema.String),
  requireIssuer: Schema.optional(Schema.Boolean),
  clientAuthentication: Schema.optional(
    Schema.Literal("client_secret_basic", "client_secret_post", "none", "private_key_jwt", "client_secret_jwt")
  )
}) {}

/**
 * The config file: profiles by name, and which one commands use without `--profile`. A name is never
 * one of `Json.forbiddenKeys` (`__proto__` would set the prototype of `profiles`, `constructor` would
 * look up `Object`).
 *
 * @since 0.1.0
 * @category models
 */
export const ConfigFile = Schema.Struct({
  defaultProfile: Schema.optional(Json.SafeKey),
  profiles: Schema.Record({ key: Json.SafeKey, value: Profile })
})

/**
 * The config file, decoded.
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigFile = typeof ConfigFile.Type

/**
 * Where the config file and the token store are.
 *
 * @since 0.1.0
 * @category models
 */
export interface Locations {
  readonly directory: string
  readonly configFile: string
  readonly tokenDirectory: string
}

/**
 * The profile name used when none is given.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultName = "default"

const homeConfig = Config.string("HOME").pipe(Config.orElse(() => Config.string("USERPROFILE")))

/**
 * Finds the config directory from the environment: `TOKENFX_CONFIG_DIR`, else
 * `XDG_CONFIG_HOME/tokenfx`, else `~/.config/tokenfx`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const locations: Effect.Effect<Locations, CliError.CliError, Path.Path> = Effect.gen(function*() {
  const path = yield* Path.Path
  const explicit = yield* Config.option(Config.nonEmptyString("TOKENFX_CONFIG_DIR"))
  const xdg = yield* Config.option(Config.nonEmptyString("XDG_CONFIG_HOME"))
  const home = yield* Config.option(homeConfig)
  const directory = Option.isSome(explicit)
    ? path.resolve(explicit.value)
    : Option.isSome(xdg)
    ? path.join(path.resolve(xdg.value), "tokenfx")
    : Option.isSome(home)
    ? path.join(home.value, ".config", "tokenfx")
    : undefined
  if (directory === undefined) {
    return yield* CliError.configuration(
      "Cannot find a config directory: neither TOKENFX_CONFIG_DIR, XDG_CONFIG_HOME nor HOME is set",
      "set TOKENFX_CONFIG_DIR to a directory tokenfx may use"
    )
  }
  return { directory, configFile: path.join(directory, "config.json"), tokenDirectory: path.join(directory, "tokens") }
}).pipe(
  Effect.catchTag(
    "ConfigError",
    () => CliError.configuration("Cannot read the environment", "check TOKENFX_CONFIG_DIR and XDG_CONFIG_HOME")
  )
)

const decodeConfig = Schema.decodeUnknownEither(ConfigFile)
const encodeConfig = Schema.encodeSync(Schema.parseJson(ConfigFile, { space: 2 }))

const empty: ConfigFile = { profiles: {} }

const problems: Record<Json.Problem, string> = {
  "empty": "it is empty",
  "not JSON": "it is not JSON",
  "too deeply nested": `it nests deeper than ${Json.maxDepth} levels`
}

// Json.parse, but keeping `__proto__`, `constructor` and `prototype` (JSON.parse makes them own data
// properties, never a prototype): its reviver would drop such a profile without a word, and the next
// save would erase it from the file. They are refused by name instead, and the schema's keys skip them.
const parse = (text: string): Either.Either<unknown, Json.Problem> => {
  if (text.trim().length === 0) return Either.left("empty")
  if (Json.depthExceeds(text)) return Either.left("too deeply nested")
  try {
    return Either.right(JSON.parse(text))
  } catch {
    return Either.left("not JSON")
  }
}

const reservedName = (json: unknown): string | undefined => {
  const profiles = typeof json === "object" && json !== null ? (json as { profiles?: unknown }).profiles : undefined
  if (typeof profiles !== "object" || profiles === null || Array.isArray(profiles)) return undefined
  return Object.keys(profiles).find((name) => Json.forbiddenKeys.has(name))
}

/**
 * Reads the config file; a missing file is an empty configuration, a broken one a configuration error
 * that names the file and the field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load: Effect.Effect<ConfigFile, CliError.CliError, FileSystem.FileSystem | Path.Path> = Effect.gen(
  function*() {
    const { configFile, directory } = yield* locations
    yield* files.checkDirectory(directory)
    const found = yield* files.read(configFile)
    if (Option.isNone(found)) return empty
    const insecure = files.insecurity("file", configFile, found.value, files.effectiveUid())
    if (insecure !== undefined) return yield* insecure
    const invalid = (where: string) =>
      CliError.make(
        "Configuration",
        `The config file ${configFile} is not valid${where}`,
        `fix it, or remove it and log in again with "tokenfx login"`
      )
    // Parsed depth-limited and the first issue found by walking the issue tree: formatting the error
    // of a deeply nested file overflowed the stack (a defect, exit 1, instead of exit 3).
    const json = parse(found.value.content)
    if (Either.isLeft(json)) return yield* invalid(`: ${problems[json.left]}`)
    const reserved = reservedName(json.right)
    if (reserved !== undefined) {
      return yield* invalid(` at profiles.${reserved}: "${reserved}" cannot be a profile name; rename it`)
    }
    return yield* Either.mapLeft(decodeConfig(json.right), (error) => {
      const path = Json.firstIssue(error).path
      return invalid(path.length === 0 ? "" : ` at ${path.map(String).join(".")}`)
    })
  }
)

const writeFailure = {
  BadArgument: (error: { readonly message: string }) =>
    CliError.make(
      "Configuration",
      `Cannot write the config file: ${error.message}`,
      "set TOKENFX_CONFIG_DIR to a directory tokenfx may write to"
    ),
  SystemError: (error: { readonly message: string }) =>
    CliError.make(
      "Configuration",
      `Cannot write the config file: ${error.message}`,
      "check that the config directory is writable"
    )
}

/**
 * Writes the config file atomically (a temporary file renamed over it), 0600 in a 0700 directory. A
 * command that changes one profile uses {@link update}, which keeps what others wrote meanwhile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const save = (config: ConfigFile): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const { configFile, directory } = yield* locations
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 })
    const temporary = `${configFile}.${globalThis.crypto.randomUUID()}.tmp`
    yield* fs.writeFileString(temporary, encodeConfig(config) + "\n", { mode: 0o600 })
    yield* fs.rename(temporary, configFile)
  }).pipe(Effect.catchTags(writeFailure))

/**
 * Changes the config file: holding a lock file beside it, reads it again, applies `f` and writes the
 * result. A login takes minutes between reading the config and saving its profile; saving what it read
 * then erased the profiles other logins saved meanwhile.
 *
 * @since 0.4.0
 * @category constructors
 */
export const update = (
  f: (config: ConfigFile) => ConfigFile
): Effect.Effect<ConfigFile, CliError.CliError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const { configFile, directory } = yield* locations
    yield* fs.makeDirectory(directory, { recursive: true, mode: 0o700 }).pipe(Effect.catchTags(writeFailure))
    return yield* configLock.withLock(
      `${configFile}.lock`,
      Effect.flatMap(load, (current) => {
        const next = f(current)
        return Effect.as(save(next), next)
      })
    )
  })

/**
 * The profile named `name` in `config`: its own member only, never one `Object.prototype` lends
 * (`constructor`, `toString`).
 *
 * @since 0.4.0
 * @category constructors
 */
export const find = (config: ConfigFile, name: string): Profile | undefined =>
  Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined

/**
 * `name` if it can name a profile, else a usage error: `__proto__`, `constructor` and `prototype`
 * cannot (`Json.forbiddenKeys`).
 *
 * @since 0.4.0
 * @category constructors
 */
export const checkName = (name: string): Effect.Effect<string, CliError.CliError> =>
  Json.forbiddenKeys.has(name)
    ? Effect.fail(CliError.make(
      "Usage",
      `"${name}" cannot be a profile name`,
      "choose another name for --profile"
    ))
    : Effect.succeed(name)

/**
 * The profile named `name` (the default profile when `undefined`), or a configuration error that says
 * how to create it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const get = (
  name: string | undefined
): Effect.Effect<readonly [string, Profile], CliError.CliError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const config = yield* load
    const chosen = yield* checkName(resolveName(config, name))
    const profile = find(config, chosen)
    if (profile === undefined) {
      return yield* CliError.make(
        "Configuration",
        `No profile "${chosen}" is configured`,
        `run "tokenfx login${flag(chosen)} --issuer <URL> --client-id <ID>" to create it`
      )
    }
    return [chosen, profile] as const
  })

/**
 * The name a command acts on: the given one, else the config's default, else `default`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveName = (config: ConfigFile, name: string | undefined): string =>
  name ?? config.defaultProfile ?? defaultName

/**
 * ` --profile NAME` for a suggested command, nothing for the default profile.
 *
 * @since 0.1.0
 * @category constructors
 */
export const flag = (name: string): string => name === defaultName ? "" : ` --profile ${name}`
