import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as FileName from "./fileName.js"
import type * as TokenFile from "./tokenFile.js"

// The token files of a directory, for `keys` and `stats`: found by name, read without the keys' locks.

/** @internal */
export interface Listed {
  readonly key: string
  // `undefined`: the file is there but does not read (corrupt, or refused); `get` reports it.
  readonly envelope: TokenFile.Envelope | undefined
}

/**
 * Every token file of `directory` that holds a token, or that does not read (it is still listed).
 *
 * @internal
 */
export const scan = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  directory: string,
  read: TokenFile.TokenFiles["read"]
): Effect.Effect<Array<Listed>, PlatformError.PlatformError> =>
  Effect.gen(function*() {
    const names = yield* fs.readDirectory(directory)
    const found: Array<Listed> = []
    for (const name of names) {
      const parsed = FileName.parseTokenFileName(name)
      if (parsed === undefined) continue
      const current = yield* read(parsed.key ?? undefined, path.join(directory, name))
      // A hashed name is only its own key's file: a copy (or another key's file) under it is no key's.
      // It is left alone, unlisted; a `get` of the key that hashes to that name moves it aside.
      if (
        current._tag === "Found" && parsed.key === null &&
        (yield* FileName.baseName(current.envelope.key)) + FileName.tokenSuffix !== name
      ) continue
      if (current._tag === "Found" && current.envelope.data !== null) {
        found.push({ key: current.envelope.key, envelope: current.envelope })
      } else if ((current._tag === "Corrupt" || current._tag === "Insecure") && parsed.key !== null) {
        found.push({ key: parsed.key, envelope: undefined })
      }
    }
    return found
  })
