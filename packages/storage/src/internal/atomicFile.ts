import * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as NodeFs from "node:fs"

/** @internal */
export const randomHex = (bytes: number): string =>
  Encoding.encodeHex(globalThis.crypto.getRandomValues(new Uint8Array(bytes)))

/** @internal */
export const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

/** @internal */
export const isAlreadyExists = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "AlreadyExists"

/**
 * Flushes a directory's entries (a rename is durable only once its directory is): opening a
 * directory read-only and `fsync`-ing it works on Linux and macOS. Platforms that cannot open a
 * directory (Windows) make this a no-op, as the rename is all they offer.
 *
 * @internal
 */
export const syncDirectory = (fs: FileSystem.FileSystem, directory: string): Effect.Effect<void> =>
  Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (dir) => dir.sync)).pipe(Effect.ignore)

/**
 * Writes a file so that readers (and a crash) see either the old content or the new one, never a
 * mix: the content goes to a fresh temporary file in the same directory (created exclusively with
 * `mode`), which is flushed, renamed over the target, and the directory flushed. With
 * `durable: false` the two flushes are skipped (for data that need not survive a power loss).
 *
 * @internal
 */
export const writeAtomic = (
  fs: FileSystem.FileSystem,
  options: {
    readonly path: string
    readonly directory: string
    readonly content: string
    readonly mode: number
    readonly durable: boolean
  }
): Effect.Effect<void, PlatformError.PlatformError> =>
  Effect.suspend(() => {
    const temp = `${options.path}.tmp-${randomHex(8)}`
    const write = Effect.scoped(
      Effect.gen(function*() {
        const file = yield* fs.open(temp, { flag: "wx", mode: options.mode })
        yield* file.writeAll(new TextEncoder().encode(options.content))
        if (options.durable) yield* file.sync
      })
    )
    return write.pipe(
      Effect.zipRight(fs.rename(temp, options.path)),
      Effect.zipRight(options.durable ? syncDirectory(fs, options.directory) : Effect.void),
      Effect.onError(() => fs.remove(temp).pipe(Effect.ignore))
    )
  })

/**
 * What {@link readWithMode} found at a path: a regular file (content, mode, owner), one larger than
 * the cap (not read), or something that must not be read as a token file at all.
 *
 * @internal
 */
export type Found =
  | {
    readonly _tag: "File"
    readonly content: string
    readonly mode: number
    readonly uid: Option.Option<number>
  }
  | { readonly _tag: "TooLarge"; readonly size: number }
  | { readonly _tag: "Refused"; readonly reason: string }

/**
 * The largest token file read: 1 MiB, far beyond any token.
 *
 * @internal
 */
export const maxFileSize = 1024 * 1024

// Never through a symbolic link (the last component), and never blocking in `open(2)` (a FIFO would
// wait for a writer forever). Windows has neither flag, nor FIFOs at ordinary paths.
const readFlags = NodeFs.constants.O_RDONLY | (NodeFs.constants.O_NOFOLLOW ?? 0) | (NodeFs.constants.O_NONBLOCK ?? 0)

const codeOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : undefined

const systemError = (path: string, method: string, cause: unknown): PlatformError.PlatformError =>
  new PlatformError.SystemError({
    reason: codeOf(cause) === "ENOENT" ? "NotFound" : codeOf(cause) === "EACCES" ? "PermissionDenied" : "Unknown",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    description: codeOf(cause),
    cause
  })

/**
 * A file's content, mode and owner, read through one descriptor so that all describe the same file
 * even when a writer renames a new one into place meanwhile. `None` when the file does not exist.
 * The file is opened without following a symbolic link and without blocking; anything but a regular
 * file is `Refused`, and a file over `max` bytes is `TooLarge` (not read).
 *
 * @internal
 */
export const readWithMode = (
  path: string,
  max: number = maxFileSize
): Effect.Effect<Option.Option<Found>, PlatformError.PlatformError> =>
  Effect.acquireUseRelease(
    Effect.tryPromise({ try: () => NodeFs.promises.open(path, readFlags), catch: (cause) => cause }),
    (handle) =>
      Effect.tryPromise({
        try: async (): Promise<Option.Option<Found>> => {
          const info = await handle.stat()
          if (!info.isFile()) return Option.some({ _tag: "Refused", reason: "it is not a regular file" })
          if (info.size > max) return Option.some({ _tag: "TooLarge", size: info.size })
          // Sized by `stat`, one byte over to see the end (or growth since), and grown up to the cap
          // only when the file did grow: not a buffer of the cap for every read.
          let buffer = new Uint8Array(Math.min(max, info.size) + 1)
          let length = 0
          while (length <= max) {
            if (length === buffer.length) {
              const grown = new Uint8Array(Math.min(max + 1, buffer.length * 2))
              grown.set(buffer)
              buffer = grown
            }
            const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null)
            if (bytesRead === 0) break
            length += bytesRead
          }
          // Grown past the cap since `stat`: still too large.
          if (length > max) return Option.some({ _tag: "TooLarge", size: length })
          const uid = typeof info.uid === "number" ? Option.some(info.uid) : Option.none<number>()
          return Option.some({
            _tag: "File",
            content: new TextDecoder().decode(buffer.subarray(0, length)),
            mode: info.mode,
            uid
          })
        },
        catch: (cause) => systemError(path, "read", cause)
      }),
    (handle) => Effect.promise(() => handle.close())
  ).pipe(
    Effect.catchAll((cause) => {
      const code = codeOf(cause)
      if (code === "ENOENT") return Effect.succeedNone
      // O_NOFOLLOW on a symbolic link (Linux answers ELOOP, BSDs EMLINK).
      if (code === "ELOOP" || code === "EMLINK") {
        return Effect.succeed(Option.some<Found>({ _tag: "Refused", reason: "it is a symbolic link" }))
      }
      return Effect.fail(PlatformError.isPlatformError(cause) ? cause : systemError(path, "open", cause))
    })
  )
