import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Buffer } from "node:buffer"
import { isNotFound, maxFileSize, writeAtomic } from "./atomicFile.js"
import * as FileLock from "./fileLock.js"

// A key's lease file: who holds the lease (owner, and the process that wrote it) and until when.
// Read and written under the key's lock file.

/** @internal */
export const Lease = Schema.Struct({
  owner: Schema.String,
  pid: Schema.Number,
  host: Schema.String,
  thread: Schema.Number,
  deadline: Schema.Number
})

/** @internal */
export type Lease = typeof Lease.Type

const decodeLease = Schema.decodeUnknownEither(Schema.parseJson(Lease))

/**
 * The lease in `file`, read as lock files are (no symbolic link followed, never blocking on a FIFO):
 * anything but a regular file is `Refused`, since granting the lease on a guess could let two holders
 * present one refresh token.
 *
 * @internal
 */
export const read = (file: string): Effect.Effect<
  Option.Option<Lease>,
  PlatformError.PlatformError | FileLock.Refused
> =>
  FileLock.readSmall(file, maxFileSize).pipe(
    // A lease file that does not decode (or is over the cap) is no lease: it protects nothing secret.
    Effect.map(Option.flatMap((content) => Either.getRight(decodeLease(content))))
  )

/**
 * A lease file a read would not read (over `maxFileSize` bytes, from a long owner): not written, since
 * it would read back as no lease and let a second holder take it.
 *
 * @internal
 */
export class TooLarge extends Data.TaggedError("LeaseTooLarge")<{ readonly size: number }> {
  readonly [OAuthError.TypeId]: OAuthError.TypeId = OAuthError.TypeId
  override get message() {
    return `the lease file would be ${this.size} bytes, over the ${maxFileSize} bytes a read accepts ` +
      `(the owner is too long): nothing was written`
  }
}

/** @internal */
export const write = (
  fs: FileSystem.FileSystem,
  directory: string,
  file: string,
  owner: string,
  deadline: number
): Effect.Effect<void, PlatformError.PlatformError | TooLarge> =>
  Effect.suspend((): Effect.Effect<void, PlatformError.PlatformError | TooLarge> => {
    const content = JSON.stringify({ owner, ...FileLock.self(), deadline })
    const size = Buffer.byteLength(content, "utf8")
    return size > maxFileSize ? new TooLarge({ size }) : writeAtomic(fs, {
      path: file,
      directory,
      content,
      mode: 0o600,
      // A lease lost to a power failure has expired anyway by the time the machine is back.
      durable: false
    })
  })

/** @internal */
export const remove = (fs: FileSystem.FileSystem, file: string): Effect.Effect<void, PlatformError.PlatformError> =>
  fs.remove(file).pipe(Effect.catchIf(isNotFound, () => Effect.void))

/** Whether `lease` keeps `owner` out at `now`: another owner's, unexpired, of a process not known dead. @internal */
export const isTakenFrom = (lease: Option.Option<Lease>, owner: string, now: number): boolean =>
  lease._tag === "Some" && lease.value.owner !== owner && lease.value.deadline > now &&
  FileLock.isAlive(lease.value) !== false

/** Whether `owner` holds `lease` at `now`. @internal */
export const isHeldBy = (lease: Option.Option<Lease>, owner: string, now: number): boolean =>
  lease._tag === "Some" && lease.value.owner === owner && lease.value.deadline > now
