/** @internal */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/** @internal */
export const isInteractive: Effect.Effect<boolean> = Effect.sync(() => process.stderr.isTTY === true)

const write = (text: string) => Effect.sync(() => process.stderr.write(text))

/**
 * A spinner on stderr for as long as the scope is open, when stderr is a terminal; otherwise the
 * message once, so that logs and pipes stay clean.
 *
 * @internal
 */
export const spinner = (message: Effect.Effect<string>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!(yield* isInteractive)) {
      yield* Effect.flatMap(message, (text) => write(`${text}\n`))
      return
    }
    let frame = 0
    yield* Effect.flatMap(message, (text) => write(`\r${frames[frame++ % frames.length]} ${text}\x1b[K`)).pipe(
      Effect.repeat(Schedule.spaced("100 millis")),
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => write("\r\x1b[K"))
  })
