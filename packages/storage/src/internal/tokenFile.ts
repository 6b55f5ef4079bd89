import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Json from "@tokenfx/core/Json"
import * as OAuthError from "@tokenfx/core/OAuthError"
import { InsecureStorage } from "@tokenfx/core/TokenStore"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Buffer } from "node:buffer"
import { isAlreadyExists, maxFileSize, readWithMode, syncDirectory, writeAtomic } from "./atomicFile.js"

// A token file on disk: its envelope (the key, its version beside the payload, or a tombstone), read
// with the checks that keep others' files out, written atomically, and moved aside when corrupt.

/** @internal */
export const Envelope = Schema.Struct({
  format: Schema.Literal(1),
  key: Schema.String,
  version: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)),
  // `null`: a tombstone, which keeps the version of a removed token.
  data: Schema.NullOr(Schema.String),
  expiresAt: Schema.optional(Schema.Number)
})

/** @internal */
export type Envelope = typeof Envelope.Type

const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

/** @internal */
export type Read =
  | { readonly _tag: "Missing" }
  | {
    readonly _tag: "Found"
    readonly envelope: Envelope
    readonly mode: number
    readonly uid: Option.Option<number>
  }
  | { readonly _tag: "Corrupt"; readonly reason: string }
  // Something at the token path that must not be read (a symbolic link, a FIFO): never moved or replaced.
  | { readonly _tag: "Insecure"; readonly reason: string }

const missing: Read = { _tag: "Missing" }

// Says what is wrong with a token file, never what it holds (secrets). `key: undefined` accepts the
// file's own key (listing hashed names).
const parseEnvelope = (
  key: string | undefined,
  content: string,
  info: { readonly mode: number; readonly uid: Option.Option<number> }
): Read => {
  if (content.length === 0) return { _tag: "Corrupt", reason: "the file is empty" }
  const json = Json.parse(content)
  if (Either.isLeft(json)) {
    return {
      _tag: "Corrupt",
      reason: json.left === "too deeply nested"
        ? "the file is not a token file (nested too deeply)"
        : "the file is not valid JSON (truncated or overwritten?)"
    }
  }
  return Either.match(decodeEnvelope(json.right), {
    onLeft: (error) => {
      // The path of the first issue, found without formatting the file's content.
      const path = Json.firstIssue(error).path
      return {
        _tag: "Corrupt",
        reason: path.length === 0 ? "the file is not a token file" : `field ${path.map(String).join(".")} is invalid`
      }
    },
    onRight: (envelope): Read =>
      key === undefined || envelope.key === key
        ? { _tag: "Found", envelope, mode: info.mode, uid: info.uid }
        : { _tag: "Corrupt", reason: "the file belongs to another key" }
  })
}

/**
 * An envelope a read would refuse (over `maxFileSize` bytes): not written, so that a valid token on disk
 * is never replaced by one that reads back as corrupt.
 *
 * @internal
 */
export class TooLarge extends Data.TaggedError("TooLarge")<{ readonly size: number }> {
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message() {
    return `the token file would be ${this.size} bytes, over the ${maxFileSize} bytes a read accepts: ` +
      `nothing was written`
  }
}

/** @internal */
export const formatMode = (mode: number) => (mode & 0o777).toString(8).padStart(4, "0")

/** @internal */
export interface TokenFiles {
  readonly read: (key: string | undefined, file: string) => Effect.Effect<Read, PlatformError.PlatformError>
  readonly insecurity: (
    key: string,
    file: string,
    found: { readonly mode: number; readonly uid: Option.Option<number> }
  ) => Option.Option<InsecureStorage>
  readonly write: (file: string, envelope: Envelope) => Effect.Effect<void, PlatformError.PlatformError | TooLarge>
  readonly moveAside: (file: string) => Effect.Effect<string, PlatformError.PlatformError>
}

/**
 * The token files of `directory`. With `strict`, a file that group or others can access, or that
 * belongs to another user than `euid`, is refused.
 *
 * @internal
 */
export const make = (
  fs: FileSystem.FileSystem,
  directory: string,
  strict: boolean,
  euid: number | undefined
): TokenFiles => {
  const read = (key: string | undefined, file: string): Effect.Effect<Read, PlatformError.PlatformError> =>
    Effect.map(readWithMode(file), (found): Read => {
      if (Option.isNone(found)) return missing
      switch (found.value._tag) {
        case "Refused":
          return { _tag: "Insecure", reason: `the token file ${file} is refused: ${found.value.reason}` }
        case "TooLarge":
          return { _tag: "Corrupt", reason: `the file is larger than ${maxFileSize} bytes` }
        case "File":
          return parseEnvelope(key, found.value.content, found.value)
      }
    })

  const insecurity = (
    key: string,
    file: string,
    found: { readonly mode: number; readonly uid: Option.Option<number> }
  ): Option.Option<InsecureStorage> => {
    if (!strict) return Option.none()
    if ((found.mode & 0o077) !== 0) {
      return Option.some(
        new InsecureStorage({
          key,
          reason: `the token file ${file} has mode ${
            formatMode(found.mode)
          }: group or others can access it (chmod 600 it, or set strictPermissions: false)`
        })
      )
    }
    // A file another user planted (or can rewrite) is not ours to trust.
    if (euid !== undefined && Option.isSome(found.uid) && found.uid.value !== euid) {
      return Option.some(
        new InsecureStorage({
          key,
          reason: `the token file ${file} belongs to user ${found.uid.value}, not to this process's user ${euid} ` +
            `(chown it, or set strictPermissions: false)`
        })
      )
    }
    return Option.none()
  }

  const write = (file: string, envelope: Envelope) =>
    Effect.suspend((): Effect.Effect<void, PlatformError.PlatformError | TooLarge> => {
      const content = JSON.stringify(envelope)
      const size = Buffer.byteLength(content, "utf8")
      return size > maxFileSize
        ? new TooLarge({ size })
        : writeAtomic(fs, { path: file, directory, content, mode: 0o600, durable: true })
    })

  // Renames a file to `<file>.corrupt-<time>` (plus a counter should that exist), never deleting it.
  const moveAside = (file: string) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const stamp = DateTime.formatIso(now).replace(/[:.]/g, "-")
      for (let n = 0;; n++) {
        const target = `${file}.corrupt-${stamp}${n === 0 ? "" : `-${n}`}`
        // A hard link never replaces an existing file, unlike a rename.
        const linked = yield* fs.link(file, target).pipe(
          Effect.as(true),
          Effect.catchIf(isAlreadyExists, () => Effect.succeed(false))
        )
        if (!linked) continue
        yield* fs.remove(file)
        yield* syncDirectory(fs, directory)
        return target
      }
    })

  return { read, insecurity, write, moveAside }
}
