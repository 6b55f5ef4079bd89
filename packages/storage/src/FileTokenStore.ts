/**
 * A token store in a directory: one file per key, for one user on one machine (a CLI, a desktop
 * application).
 *
 * - Confidentiality: the directory is created `0700` and every file `0600`; a token file that group
 *   or others can read, or that belongs to another user, is refused with `InsecureStorage` (unless
 *   `strictPermissions: false`), and so is a directory that group or others can write to or that
 *   belongs to another user. Token files are opened without following symbolic links and without
 *   blocking: a symbolic link, a FIFO or anything else but a regular file at a token path is
 *   `InsecureStorage`, whatever `strictPermissions` says, and is left where it is. A token file
 *   larger than 1 MiB is not read (it is corrupt), and a write that would make one is refused with
 *   `TokenStoreError` (the stored token stays).
 * - Atomicity and durability: a write goes to a temporary file in the same directory, which is
 *   flushed (`fsync`), renamed over the token file, and the directory flushed; a reader, or a crash,
 *   sees the old token or the new one, never a mix. The directory flush opens the directory read-only
 *   and syncs that descriptor (Linux, macOS); where a directory cannot be opened it is skipped.
 * - Nothing is lost: a file that does not decode is renamed aside (`<file>.corrupt-<time>`) and
 *   reported as `CorruptedToken`; it is never deleted.
 * - Safe names: keys are encoded into file names (`[a-z0-9_-]` kept, anything else escaped, long keys
 *   hashed), so no key can reach outside the directory.
 * - Versions and compare-and-set across processes: the version is stored in the file beside the
 *   payload, and every write reads and writes it holding the key's lock file, created exclusively.
 *   A lock file whose holder died (same host: its pid no longer runs) or that is older than
 *   `staleLockAfter` (another host) is broken, and so is one that does not decode (empty, or over
 *   64 KiB: it is not read whole). Lock files are read as token files are: anything but a regular
 *   file at a lock path is `InsecureStorage`, and is left where it is. A write after a removal can be
 *   conditional on the tombstone's version (`head`, `compareAndSetRemoved`): `EncryptedTokenStore` seals it once.
 * - Leases: a lease file per key (owner, pid, host, deadline from `Clock`), written under the key's
 *   lock; it is taken over when its deadline has passed or its process died on this host. It is read
 *   as lock files are: anything but a regular file there is `InsecureStorage`, left where it is. An
 *   owner that would make it over 1 MiB (then read as no lease) is refused with `TokenStoreError`.
 *
 * A removed token leaves a small tombstone file (no secret in it) that keeps the key's version.
 *
 * POSIX only for the permission checks: on Windows, whose ACLs ignore modes, set `strictPermissions: false`.
 *
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as TokenStore from "@tokenfx/core/TokenStore"
import { CorruptedToken, InsecureStorage, TokenStoreError } from "@tokenfx/core/TokenStore"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as FileLease from "./internal/fileLease.js"
import * as FileLock from "./internal/fileLock.js"
import * as FileName from "./internal/fileName.js"
import * as TokenDirectory from "./internal/tokenDirectory.js"
import * as TokenFile from "./internal/tokenFile.js"
import * as RawTokenStore from "./RawTokenStore.js"

/**
 * Options of the file store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Refuse token files that group or others can read or that belong to another user, and a directory
   * that group or others can write to. Default `true`.
   */
  readonly strictPermissions?: boolean | undefined
  /**
   * How long a write waits for a key's lock file held by another process. Default 10 seconds.
   */
  readonly lockTimeout?: Duration.DurationInput | undefined
  /**
   * When a lock file written on another host (a shared network directory) counts as abandoned.
   * Default 30 seconds.
   */
  readonly staleLockAfter?: Duration.DurationInput | undefined
}

/**
 * A payload store in `directory` (created `0700` when missing).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  directory: string,
  options?: Options
): Effect.Effect<RawTokenStore.RawTokenStore["Type"], TokenStore.StoreError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = path.resolve(directory)
    const strict = options?.strictPermissions ?? true
    const lockOptions: FileLock.LockOptions = {
      timeout: Duration.toMillis(options?.lockTimeout ?? Duration.seconds(10)),
      staleAfter: Duration.toMillis(options?.staleLockAfter ?? Duration.seconds(30))
    }

    const failure = (operation: string, key?: string) => (error: PlatformError.PlatformError | FileLock.LockTimeout) =>
      new TokenStoreError({
        operation,
        key,
        description: error._tag === "LockTimeout"
          ? `timed out after ${Duration.format(lockOptions.timeout)} waiting for the key's lock file${
            error.holder === undefined ? "" : ` (held by pid ${error.holder.pid} on ${error.holder.host})`
          }`
          : error.message,
        cause: error
      })

    yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(failure("open")))
    const info = yield* fs.stat(dir).pipe(Effect.mapError(failure("open")))
    if (info.type !== "Directory") {
      return yield* new TokenStoreError({ operation: "open", description: `${dir} is not a directory` })
    }
    if (strict && (info.mode & 0o022) !== 0) {
      return yield* new InsecureStorage({
        reason: `the token directory ${dir} has mode ${
          TokenFile.formatMode(info.mode)
        }: group or others can write to it (chmod 700 it, or set strictPermissions: false)`
      })
    }
    // Whom token files must belong to: this process's user (where the platform has user ids).
    const euid = FileLock.effectiveUid()
    // Whoever owns the directory can replace any file in it.
    if (strict && euid !== undefined && Option.isSome(info.uid) && info.uid.value !== euid) {
      return yield* new InsecureStorage({
        reason: `the token directory ${dir} belongs to user ${info.uid.value}, not to this process's user ${euid} ` +
          `(chown it, or set strictPermissions: false)`
      })
    }

    const { insecurity, moveAside, read, write } = TokenFile.make(fs, dir, strict, euid)
    const locks = yield* FileLock.make(fs, lockOptions)

    const files = (key: string) =>
      Effect.map(FileName.baseName(key), (base) => ({
        token: path.join(dir, base + FileName.tokenSuffix),
        lock: path.join(dir, base + ".lock"),
        lease: path.join(dir, base + ".lease")
      }))

    const refuse = (key: string, current: { readonly reason: string }) =>
      new InsecureStorage({ key, reason: current.reason })

    const locked = <A>(
      operation: string,
      key: string,
      lock: string,
      use: Effect.Effect<A, PlatformError.PlatformError | FileLock.Refused | FileLease.TooLarge | TokenStore.StoreError>
    ): Effect.Effect<A, TokenStore.StoreError> =>
      locks.withLock(lock, use).pipe(
        Effect.catchTags({
          Refused: (e) => Effect.fail(new InsecureStorage({ key, reason: e.message })),
          LeaseTooLarge: (e) => Effect.fail(new TokenStoreError({ operation, key, description: e.message, cause: e })),
          LockTimeout: (e) => Effect.fail(failure(operation, key)(e)),
          SystemError: (e) => Effect.fail(failure(operation, key)(e)),
          BadArgument: (e) => Effect.fail(failure(operation, key)(e))
        })
      )

    // Runs `f` on the key's current envelope, holding its lock. A corrupt file is moved aside first
    // (it is then absent); file modes are not checked, since a write replaces the file with a 0600 one.
    const mutate = <A>(
      operation: string,
      key: string,
      f: (
        current: Option.Option<TokenFile.Envelope>,
        file: string
      ) => Effect.Effect<A, PlatformError.PlatformError | TokenFile.TooLarge | TokenStore.StoreError>
    ): Effect.Effect<A, TokenStore.StoreError> =>
      Effect.flatMap(files(key), ({ lock, token }) =>
        locked(
          operation,
          key,
          lock,
          Effect.gen(function*() {
            const current = yield* read(key, token)
            switch (current._tag) {
              case "Missing":
                return yield* f(Option.none(), token)
              case "Insecure":
                return yield* refuse(key, current)
              case "Corrupt":
                yield* moveAside(token)
                return yield* f(Option.none(), token)
              case "Found":
                return yield* f(Option.some(current.envelope), token)
            }
          }).pipe(
            Effect.catchTag(
              "TooLarge",
              (e) => Effect.fail(new TokenStoreError({ operation, key, description: e.message, cause: e }))
            )
          )
        ))

    const live = (current: Option.Option<TokenFile.Envelope>) => Option.filter(current, (e) => e.data !== null)

    const writeIf = (
      operation: string,
      key: string,
      payload: RawTokenStore.Payload,
      accept: (current: Option.Option<TokenFile.Envelope>) => boolean
    ) =>
      mutate(operation, key, (current, file) => {
        if (!accept(current)) return Effect.succeedNone
        const version = Option.match(current, { onNone: () => 1, onSome: (e) => e.version + 1 })
        // 2^53 would be written, then read back as an invalid version (corrupt): refused, as SqlTokenStore does.
        if (!Number.isSafeInteger(version)) {
          return new TokenStoreError({
            operation,
            key,
            description: "the stored version is 2^53 - 1, the last exact one: no later version can be written"
          })
        }
        return Effect.as(
          write(file, { format: 1, key, version, data: payload.data, expiresAt: payload.expiresAt }),
          Option.some(version)
        )
      })

    const get = (key: string): Effect.Effect<Option.Option<RawTokenStore.Entry>, TokenStore.StoreError> =>
      Effect.gen(function*() {
        const { lock, token } = yield* files(key)
        const current = yield* read(key, token).pipe(Effect.mapError(failure("get", key)))
        switch (current._tag) {
          case "Missing":
            return Option.none()
          case "Insecure":
            return yield* refuse(key, current)
          case "Found": {
            const refused = insecurity(key, token, current)
            if (Option.isSome(refused)) return yield* refused.value
            const { data, version } = current.envelope
            return data === null ? Option.none() : Option.some<RawTokenStore.Entry>({ data, version })
          }
          case "Corrupt": {
            // Decided again under the lock: a writer may have replaced the file meanwhile.
            const corrupted = yield* locked(
              "get",
              key,
              lock,
              Effect.flatMap(read(key, token), (again) =>
                again._tag === "Corrupt"
                  ? Effect.map(moveAside(token), (movedTo) => Option.some({ reason: again.reason, movedTo }))
                  : Effect.succeedNone)
            )
            if (Option.isSome(corrupted)) return yield* new CorruptedToken({ key, ...corrupted.value })
            return yield* get(key)
          }
        }
      })

    // Read as a write reads: no lock (the conditional write decides), no mode check (a write replaces the
    // file with a 0600 one), and a corrupt file is no version (a write moves it aside first).
    const head = (key: string): Effect.Effect<RawTokenStore.Head, TokenStore.StoreError> =>
      Effect.gen(function*() {
        const { token } = yield* files(key)
        const current = yield* read(key, token).pipe(Effect.mapError(failure("head", key)))
        switch (current._tag) {
          case "Insecure":
            return yield* refuse(key, current)
          case "Found":
            return { version: current.envelope.version, stored: current.envelope.data !== null }
          default:
            return { version: 0, stored: false }
        }
      })

    const withLease = <A>(
      operation: string,
      key: string,
      f: (
        current: Option.Option<FileLease.Lease>,
        now: number,
        file: string
      ) => Effect.Effect<A, PlatformError.PlatformError | FileLease.TooLarge>
    ) =>
      Effect.flatMap(files(key), ({ lease, lock }) =>
        locked(
          operation,
          key,
          lock,
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const current = yield* FileLease.read(lease)
            return yield* f(current, now, lease)
          })
        ))

    const scan = (operation: string) =>
      TokenDirectory.scan(fs, path, dir, read).pipe(Effect.mapError(failure(operation)))

    const keys = Effect.map(scan("keys"), (found) => found.map((file) => file.key).sort())

    // The expiry is in each envelope, in the clear: no token is decoded (or decrypted). Unreadable files
    // are left out: `get` reports them.
    const stats = (options?: TokenStore.StatsOptions) =>
      Effect.zipWith(
        scan("stats"),
        Clock.currentTimeMillis,
        (found, now) =>
          TokenStore.countExpiries(
            found.flatMap((file) => file.envelope === undefined ? [] : [file.envelope.expiresAt]),
            now,
            options
          )
      )

    return RawTokenStore.RawTokenStore.of({
      get,
      set: (key, payload) =>
        Effect.map(
          writeIf("set", key, payload, () => true),
          Option.getOrElse(() => 0)
        ),
      compareAndSet: (key, payload, expected) =>
        writeIf(
          "compareAndSet",
          key,
          payload,
          (current) =>
            expected === undefined
              ? Option.isNone(live(current))
              : Option.exists(live(current), (e) => e.version === expected)
        ),
      head,
      // Under the key's lock, one atomic rename, as every write: a crash leaves the tombstone or the token.
      compareAndSetRemoved: (key, payload, version) =>
        writeIf("compareAndSetRemoved", key, payload, (current) =>
          Option.match(current, {
            onNone: () => version === 0,
            onSome: (e) => e.data === null && e.version === version
          })),
      remove: (key, expected) =>
        mutate("remove", key, (current, file) => {
          const entry = live(current)
          if (Option.isNone(entry) || (expected !== undefined && entry.value.version !== expected)) {
            return Effect.succeed(false)
          }
          return Effect.as(write(file, { format: 1, key, version: entry.value.version, data: null }), true)
        }),
      quarantine: (key, version) =>
        mutate("quarantine", key, (current, file) => {
          const entry = live(current)
          if (Option.isNone(entry) || entry.value.version !== version) return Effect.succeedNone
          return moveAside(file).pipe(
            Effect.tap(() => write(file, { format: 1, key, version, data: null })),
            Effect.map(Option.some)
          )
        }),
      keys,
      size: Effect.map(keys, (all) => all.length),
      stats,
      acquireLease: (key, owner, ttl) =>
        withLease("acquireLease", key, (current, now, file) =>
          FileLease.isTakenFrom(current, owner, now)
            ? Effect.succeed(false)
            : Effect.as(FileLease.write(fs, dir, file, owner, now + Duration.toMillis(ttl)), true)),
      renewLease: (key, owner, ttl) =>
        withLease("renewLease", key, (current, now, file) =>
          FileLease.isHeldBy(current, owner, now)
            ? Effect.as(FileLease.write(fs, dir, file, owner, now + Duration.toMillis(ttl)), true)
            : Effect.succeed(false)),
      releaseLease: (key, owner) =>
        withLease(
          "releaseLease",
          key,
          (current, _now, file) =>
            Option.isSome(current) && current.value.owner === owner ? FileLease.remove(fs, file) : Effect.void
        )
    })
  })

/**
 * The payload store in `directory`, for `EncryptedTokenStore` to wrap.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRaw = (
  directory: string,
  options?: Options
): Layer.Layer<RawTokenStore.RawTokenStore, TokenStore.StoreError, FileSystem.FileSystem | Path.Path> =>
  Layer.effect(RawTokenStore.RawTokenStore, make(directory, options))

/**
 * The `TokenStore` in `directory`, unencrypted (the file modes are its protection).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFileSystem = (
  directory: string,
  options?: Options
): Layer.Layer<TokenStore.TokenStore, TokenStore.StoreError, FileSystem.FileSystem | Path.Path> =>
  RawTokenStore.layerTokenStore.pipe(Layer.provide(layerRaw(directory, options)))
