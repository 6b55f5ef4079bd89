import * as FileSystem from "@effect/platform/FileSystem"
import { assert, describe, it } from "@effect/vitest"
import * as OAuthError from "@tokenfx/core/OAuthError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Path from "node:path"
// Internal: reached by path, since the package exports no `internal/*`.
import * as FileLock from "../src/internal/fileLock.js"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

const options: FileLock.LockOptions = { timeout: 1_000, staleAfter: 30_000 }

const setup = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const dir = yield* tempTokenDirectory
  yield* fs.makeDirectory(dir, { recursive: true, mode: 0o700 })
  return { fs, lock: Path.join(dir, "key.lock") }
})

// Lets real file operations complete between two moves of the TestClock.
const settle = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

describe("fileLock", () => {
  it.scoped("a store's semaphore for a lock file lives while fibers use it, then is dropped", () =>
    Effect.gen(function*() {
      const { fs, lock } = yield* setup
      const locks = yield* FileLock.make(fs, options)
      const inside = yield* locks.withLock(lock, locks.size)
      assert.strictEqual(inside, 1)
      assert.strictEqual(yield* locks.size, 0)
      for (let i = 0; i < 50; i++) yield* locks.withLock(`${lock}-${i}`, Effect.void)
      assert.strictEqual(yield* locks.size, 0)
      assert.isFalse(yield* fs.exists(lock))
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("fibers of one store queue on the semaphore: each holds the lock file alone", () =>
    Effect.gen(function*() {
      const { fs, lock } = yield* setup
      const locks = yield* FileLock.make(fs, options)
      let holders = 0
      let most = 0
      const use = Effect.gen(function*() {
        holders++
        most = Math.max(most, holders)
        yield* settle
        holders--
      })
      yield* Effect.all(Array.from({ length: 8 }, () => locks.withLock(lock, use)), { concurrency: "unbounded" })
      assert.strictEqual(most, 1)
      assert.strictEqual(yield* locks.size, 0)
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a lock file held by another store is waited for on the schedule, then times out with a branded error", () =>
    Effect.gen(function*() {
      const { fs, lock } = yield* setup
      const first = yield* FileLock.make(fs, options)
      const second = yield* FileLock.make(fs, options)
      const taken = yield* Deferred.make<void>()
      const done = yield* Deferred.make<void>()
      const holding = yield* Effect.fork(first.withLock(
        lock,
        Deferred.succeed(taken, undefined).pipe(
          Effect.zipRight(Deferred.await(done))
        )
      ))
      yield* Deferred.await(taken)
      const waiting = yield* Effect.fork(Effect.flip(second.withLock(lock, Effect.void)))
      for (let i = 0; i < 200 && Option.isNone(yield* Fiber.poll(waiting)); i++) {
        yield* settle
        yield* TestClock.adjust("20 millis")
      }
      const error = yield* Fiber.join(waiting)
      assert.strictEqual(error._tag, "LockTimeout")
      assert.isTrue(OAuthError.isOAuthError(error))
      yield* Deferred.succeed(done, undefined)
      yield* Fiber.join(holding)
      // Released by its holder, the lock file is free for the other store.
      assert.strictEqual(yield* second.withLock(lock, Effect.succeed("taken")), "taken")
    }).pipe(Effect.provide(NodeLayer)))
})
