import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"

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
 * A file's content, mode and owner, read through one descriptor so that all describe the same file
 * even when a writer renames a new one into place meanwhile. `None` when the file does not exist.
 *
 * @internal
 */
export const readWithMode = (
  fs: FileSystem.FileSystem,
  path: string
): Effect.Effect<
  Option.Option<
    { readonly content: string; readonly mode: number; readonly uid: Option.Option<number>; readonly isFile: boolean }
  >,
  PlatformError.PlatformError
> =>
  Effect.scoped(
    Effect.gen(function*() {
      const file = yield* fs.open(path, { flag: "r" })
      const info = yield* file.stat
      if (info.type !== "File") return Option.some({ content: "", mode: info.mode, uid: info.uid, isFile: false })
      const chunks: Array<Uint8Array> = []
      let length = 0
      while (true) {
        const chunk = yield* file.readAlloc(Math.max(Number(info.size), 4096))
        if (Option.isNone(chunk)) break
        chunks.push(chunk.value)
        length += chunk.value.length
      }
      const bytes = new Uint8Array(length)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return Option.some({ content: new TextDecoder().decode(bytes), mode: info.mode, uid: info.uid, isFile: true })
    })
  ).pipe(Effect.catchIf(isNotFound, () => Effect.succeedNone))
