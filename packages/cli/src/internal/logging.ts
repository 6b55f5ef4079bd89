/**
 * The CLI's logs: to stderr (stdout is for `tokenfx token` and `tokenfx request` alone), errors only
 * unless `TOKENFX_LOG` asks for more (or `none`). An error is what the user must know even when the
 * command succeeds: a refreshed token the store would not take is retried until the process ends, and
 * lost then, so the next command may ask for a new login.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as display from "./display.js"

// Effect's own names (Config.logLevel) know WARN but not the "warning" the README documents.
const levels: Readonly<Record<string, LogLevel.LogLevel>> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  none: LogLevel.None
}

/** `TOKENFX_LOG`, errors only when unset. @internal */
export const level: Config.Config<LogLevel.LogLevel> = Config.string("TOKENFX_LOG").pipe(
  Config.mapOrFail((value) =>
    Object.hasOwn(levels, value.toLowerCase())
      ? Either.right(levels[value.toLowerCase()]!)
      : Either.left(ConfigError.InvalidData(["TOKENFX_LOG"], "not a log level"))
  ),
  Config.withDefault(LogLevel.Error)
)

// logfmt leaves a value without spaces unquoted, escape sequences and all: each line is escaped as
// the commands' own output is.
/** @internal */
export const layer = Logger.replace(
  Logger.defaultLogger,
  Logger.withConsoleError(Logger.map(Logger.logfmtLogger, display.text))
)
