#!/usr/bin/env node
/**
 * The `tokenfx` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Commands from "./Commands.js"
import * as display from "./internal/display.js"

// Logs go to stderr, and only when asked for (TOKENFX_LOG=debug|info|warning|error): stdout is for
// `tokenfx token` and `tokenfx request` alone.
const logLevel = Config.logLevel("TOKENFX_LOG").pipe(Config.withDefault(LogLevel.None))

// logfmt leaves a value without spaces unquoted, escape sequences and all: each line is escaped as
// the commands' own output is.
const LoggerLive = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleError(Logger.map(Logger.logfmtLogger, display.text))
)

Effect.flatMap(logLevel, (level) => Logger.withMinimumLogLevel(Commands.run(process.argv), level)).pipe(
  Effect.orElseSucceed(() => 2),
  Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, LoggerLive)),
  Effect.runPromise
).then((code) => {
  process.exitCode = code
})
