#!/usr/bin/env node
/**
 * The `tokenfx` executable.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as CliError from "./CliError.js"
import * as Commands from "./Commands.js"
import * as logging from "./internal/logging.js"
import * as signals from "./internal/signals.js"

// A TOKENFX_LOG that names no level is said, as every other failure is: it ended the process with
// exit 2 and nothing written.
const badLogLevel = CliError.configuration(
  "TOKENFX_LOG is not a log level",
  "set it to debug, info, warning or error (or trace, or none), or unset it"
)

const main = Effect.flatMap(logging.level, (level) => Logger.withMinimumLogLevel(Commands.run(process.argv), level))
  .pipe(
    Effect.catchTag(
      "ConfigError",
      () => Effect.as(Console.error(`tokenfx: ${badLogLevel.message}`), CliError.exitCodes[badLogLevel.kind])
    ),
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, logging.layer))
  )

const fiber = Effect.runFork(main)

// Signals interrupt the command, so that a refresh under way is stored first (internal/signals).
const uninstall = signals.install(fiber)

fiber.addObserver((exit) => {
  uninstall()
  if (Exit.isSuccess(exit)) {
    process.exitCode = exit.value
  } else if (!Cause.isInterruptedOnly(exit.cause)) {
    process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
    process.exitCode = 1
  }
})
