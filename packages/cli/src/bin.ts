#!/usr/bin/env node
/**
 * The `tokenfx` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as CliError from "./CliError.js"
import * as Commands from "./Commands.js"
import * as display from "./internal/display.js"

// Logs go to stderr, and only when asked for (TOKENFX_LOG=debug|info|warning|error): stdout is for
// `tokenfx token` and `tokenfx request` alone.
// Effect's own names (Config.logLevel) know WARN but not the "warning" this README documents.
const levels: Readonly<Record<string, LogLevel.LogLevel>> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

const logLevel = Config.string("TOKENFX_LOG").pipe(
  Config.mapOrFail((value) =>
    Object.hasOwn(levels, value.toLowerCase())
      ? Either.right(levels[value.toLowerCase()]!)
      : Either.left(ConfigError.InvalidData(["TOKENFX_LOG"], "not a log level"))
  ),
  Config.withDefault(LogLevel.None)
)

// logfmt leaves a value without spaces unquoted, escape sequences and all: each line is escaped as
// the commands' own output is.
const LoggerLive = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleError(Logger.map(Logger.logfmtLogger, display.text))
)

// A TOKENFX_LOG that names no level is said, as every other failure is: it ended the process with
// exit 2 and nothing written.
const badLogLevel = CliError.configuration(
  "TOKENFX_LOG is not a log level",
  "set it to debug, info, warning or error (or trace, or none), or unset it"
)

Effect.flatMap(logLevel, (level) => Logger.withMinimumLogLevel(Commands.run(process.argv), level)).pipe(
  Effect.catchTag(
    "ConfigError",
    () => Effect.as(Console.error(`tokenfx: ${badLogLevel.message}`), CliError.exitCodes[badLogLevel.kind])
  ),
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, LoggerLive)),
  Effect.runPromise
).then((code) => {
  process.exitCode = code
})
