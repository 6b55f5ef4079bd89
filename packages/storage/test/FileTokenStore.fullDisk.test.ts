/**
 * The file store on a full disk (ENOSPC): a file can still be created, but no byte written to it. Every
 * write fails with a `TokenStoreError`, the stored token stays readable and intact, nothing the failed
 * writes started is left in the directory, and writes work again once there is space.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import type * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { tempTokenDirectory } from "./utils/layers.js"

const isFull = (disk: Disk, path: string) => disk.full && (disk.only?.(path) ?? true)

const noSpace = (method: string, path: string) =>
  new PlatformError.SystemError({
    reason: "Unknown",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    description: "ENOSPC: no space left on device, write"
  })

// Node's file system, but while `disk.full` every write (of a path `disk.only` accepts) creates its file,
// as the kernel does, and then fails with ENOSPC, its first byte unwritten.
interface Disk {
  full: boolean
  only?: (path: string) => boolean
}

const fullDisk = (disk: Disk) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (fs) =>
      FileSystem.FileSystem.of({
        ...fs,
        writeFile: (path, data, options) =>
          isFull(disk, path)
            ? Effect.zipRight(fs.writeFile(path, new Uint8Array(0), options), Effect.fail(noSpace("writeFile", path)))
            : fs.writeFile(path, data, options),
        writeFileString: (path, data, options) =>
          isFull(disk, path)
            ? Effect.zipRight(fs.writeFile(path, new Uint8Array(0), options), Effect.fail(noSpace("writeFile", path)))
            : fs.writeFileString(path, data, options),
        open: (path, options) =>
          Effect.map(fs.open(path, options), (file) =>
            isFull(disk, path) && options?.flag !== undefined && options.flag !== "r"
              ? {
                ...file,
                writeAll: () => Effect.fail(noSpace("writeAll", path))
              }
              : file)
      }))
  ).pipe(Layer.provide(NodeFileSystem.layer))

describe("FileTokenStore on a full disk", () => {
  it.scoped("every write fails typed, leaves nothing behind, and the stored token is intact; then writes work", () =>
    Effect.gen(function*() {
      const disk: Disk = { full: false }
      const dir = yield* tempTokenDirectory.pipe(Effect.provide(NodeFileSystem.layer), Effect.provide(NodePath.layer))
      const store = RawTokenStore.toTokenStore(
        yield* FileTokenStore.make(dir).pipe(Effect.provide(Layer.merge(fullDisk(disk), NodePath.layer)))
      )
      yield* store.set("alice", fullToken(1))
      yield* store.acquireLease("alice", "earlier", "30 seconds")
      yield* store.releaseLease("alice", "earlier")
      const before = Fs.readdirSync(dir).sort()
      disk.full = true
      const writes: ReadonlyArray<readonly [string, Effect.Effect<unknown, TokenStore.StoreError>]> = [
        ["set", store.set("alice", fullToken(2))],
        ["compareAndSet", store.compareAndSet("alice", fullToken(2), 1)],
        ["set of a new key", store.set("bob", fullToken(2))],
        ["acquireLease", store.acquireLease("alice", "owner", "30 seconds")],
        ["remove", store.remove("alice", 1)]
      ]
      for (const [name, write] of writes) {
        const outcome = yield* Effect.either(write)
        assert.isTrue(outcome._tag === "Left", `${name} failed`)
        if (outcome._tag === "Left") assert.strictEqual(outcome.left._tag, "TokenStoreError", name)
      }
      const held = Option.getOrThrow(yield* store.get("alice"))
      assert.strictEqual(held.version, 1)
      assert.isTrue(Token.Equivalence(held.token, fullToken(1)))
      // Nothing the failed writes started (a temporary file, a lock) is left: the directory as it was.
      assert.deepStrictEqual(Fs.readdirSync(dir).sort(), before)
      disk.full = false
      assert.deepStrictEqual(
        Option.map(yield* store.compareAndSet("alice", fullToken(2), 1), (entry) => entry.version),
        Option.some(2)
      )
      assert.isTrue(yield* store.acquireLease("alice", "owner", "30 seconds"))
      assert.isTrue(Fs.existsSync(Path.join(dir, "key-alice.json")))
    }))

  it.scoped("the lock taken, the token's write fails: the token intact, nothing left behind, the lock given back", () =>
    Effect.gen(function*() {
      // Room for a lock file (a few hundred bytes), none for a token file.
      const disk: Disk = { full: false, only: (path) => !path.includes(".lock") }
      const dir = yield* tempTokenDirectory.pipe(Effect.provide(NodeFileSystem.layer), Effect.provide(NodePath.layer))
      const store = RawTokenStore.toTokenStore(
        yield* FileTokenStore.make(dir).pipe(Effect.provide(Layer.merge(fullDisk(disk), NodePath.layer)))
      )
      yield* store.set("alice", fullToken(1))
      disk.full = true
      const writes: ReadonlyArray<Effect.Effect<unknown, TokenStore.StoreError>> = [
        store.set("alice", fullToken(2)),
        store.compareAndSet("alice", fullToken(2), 1)
      ]
      for (const write of writes) {
        assert.strictEqual((yield* Effect.flip(write))._tag, "TokenStoreError")
      }
      assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(1)))
      assert.deepStrictEqual(Fs.readdirSync(dir), ["key-alice.json"])
      disk.full = false
      assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
    }))
})
