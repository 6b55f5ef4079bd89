/** @internal */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as NodeFs from "node:fs"
import * as Process from "node:process"
import * as CliError from "../CliError.js"

// config.json read as the token store reads token files (`readWithMode` in @tokenfx/storage, internal
// there): never blocking in open(2) (a FIFO would wait for a writer forever), never through a symbolic
// link, never more than a cap, content and metadata from one descriptor.

/**
 * The largest config file read: far beyond any number of profiles.
 *
 * @internal
 */
export const maxSize = 1024 * 1024

/** @internal */
export interface Found {
  readonly content: string
  readonly mode: number
  readonly uid: number
}

// Windows has neither flag, nor FIFOs at ordinary paths.
const flags = NodeFs.constants.O_RDONLY | (NodeFs.constants.O_NOFOLLOW ?? 0) | (NodeFs.constants.O_NONBLOCK ?? 0)

const codeOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined

const refused = (path: string, why: string, next: string) =>
  CliError.make("Configuration", `The config file ${path} is refused: ${why}`, next)

/**
 * The config file's content, mode and owner; `None` when there is none.
 *
 * @internal
 */
export const read = (path: string): Effect.Effect<Option.Option<Found>, CliError.CliError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => NodeFs.promises.open(path, flags), catch: (cause) => cause }),
    (handle) =>
      Effect.tryPromise({
        try: async (): Promise<Found | string> => {
          const info = await handle.stat()
          if (!info.isFile()) return "it is not a regular file"
          if (info.size > maxSize) return `it is larger than ${maxSize} bytes`
          const buffer = new Uint8Array(maxSize + 1)
          let length = 0
          while (length <= maxSize) {
            const { bytesRead } = await handle.read(buffer, length, maxSize + 1 - length, null)
            if (bytesRead === 0) break
            length += bytesRead
          }
          if (length > maxSize) return `it is larger than ${maxSize} bytes`
          return { content: new TextDecoder().decode(buffer.subarray(0, length)), mode: info.mode, uid: info.uid }
        },
        catch: (cause) => cause
      }),
    (handle) => Effect.promise(() => handle.close())
  ).pipe(
    Effect.flatMap((found) =>
      typeof found === "string"
        ? Effect.fail(refused(path, found, `replace it with the file tokenfx writes ("tokenfx login")`))
        : Effect.succeed(Option.some(found))
    ),
    Effect.catchAll((cause): Effect.Effect<Option.Option<Found>, CliError.CliError> => {
      if (cause instanceof CliError.CliError) return Effect.fail(cause)
      const code = codeOf(cause)
      if (code === "ENOENT") return Effect.succeedNone
      // O_NOFOLLOW on a symbolic link (Linux answers ELOOP, BSDs EMLINK).
      if (code === "ELOOP" || code === "EMLINK") {
        return Effect.fail(refused(path, "it is a symbolic link", "replace the link with the file it points to"))
      }
      return Effect.fail(
        CliError.make("Configuration", `Cannot read ${path}: ${code ?? String(cause)}`, "check its permissions")
      )
    })
  )

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0")

/**
 * Why a config file or its directory must not be trusted, if it must not: group or others can write to
 * it, or another user owns it. config.json decides where refresh tokens and the client secret are sent,
 * so it gets the token files' checks for writing (reading it reveals no secret). `euid` is undefined
 * where the platform has none (Windows, whose ACLs ignore modes): nothing is checked there.
 *
 * @internal
 */
export const insecurity = (
  what: "file" | "directory",
  path: string,
  found: { readonly mode: number; readonly uid: number },
  euid: number | undefined
): CliError.CliError | undefined => {
  if (euid === undefined) return undefined
  const subject = what === "file" ? `The config file ${path}` : `The config directory ${path}`
  const why = "and it decides where refresh tokens and the client secret are sent"
  if ((found.mode & 0o022) !== 0) {
    return CliError.make(
      "Configuration",
      `${subject} has mode ${octal(found.mode)}: group or others can write to it, ${why}`,
      `check that its content is yours, then "chmod ${what === "file" ? "600" : "700"} ${path}"`
    )
  }
  if (found.uid !== euid) {
    return CliError.make(
      "Configuration",
      `${subject} belongs to user ${found.uid}, not to this process's user ${euid}, ${why}`,
      `check that its content is yours, then "chown ${euid} ${path}"`
    )
  }
  return undefined
}

/** @internal */
export const effectiveUid = (): number | undefined => Process.geteuid?.()

/**
 * Refuses a config directory that others can write to (they could put their own config.json in it);
 * a missing one is fine (tokenfx creates it 0700).
 *
 * @internal
 */
export const checkDirectory = (path: string): Effect.Effect<void, CliError.CliError> =>
  Effect.tryPromise({ try: () => NodeFs.promises.stat(path), catch: (cause) => cause }).pipe(
    Effect.flatMap((info) => {
      const problem = insecurity("directory", path, info, effectiveUid())
      return problem === undefined ? Effect.void : Effect.fail(problem)
    }),
    Effect.catchAll((cause) =>
      cause instanceof CliError.CliError
        ? Effect.fail(cause)
        : codeOf(cause) === "ENOENT"
        ? Effect.void
        : Effect.fail(
          CliError.make(
            "Configuration",
            `Cannot read ${path}: ${codeOf(cause) ?? String(cause)}`,
            "check its permissions"
          )
        )
    )
  )
