/** @internal */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/**
 * Opens `url` in the user's browser when there is one (`$BROWSER`, else the platform's opener where a
 * display is), and says whether it tried. Failing to open is not an error: the URL is printed anyway.
 *
 * @internal
 */
export const open = (url: string): Effect.Effect<boolean, never, CommandExecutor.CommandExecutor> =>
  Effect.gen(function*() {
    const browser = yield* Config.option(Config.nonEmptyString("BROWSER")).pipe(Effect.orElseSucceed(Option.none))
    const display = yield* Config.option(Config.nonEmptyString("DISPLAY")).pipe(Effect.orElseSucceed(Option.none))
    const wayland = yield* Config.option(Config.nonEmptyString("WAYLAND_DISPLAY")).pipe(
      Effect.orElseSucceed(Option.none)
    )
    const opener = Option.isSome(browser)
      ? browser.value
      : process.platform === "darwin"
      ? "open"
      : process.platform === "win32"
      ? "explorer"
      : Option.isSome(display) || Option.isSome(wayland)
      ? "xdg-open"
      : undefined
    if (opener === undefined) return false
    return yield* Command.make(opener, url).pipe(
      Command.stdin("inherit"),
      Command.exitCode,
      Effect.timeout("5 seconds"),
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    )
  })
