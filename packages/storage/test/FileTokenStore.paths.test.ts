/**
 * What sits at a key's lock or lease path. The store only ever makes regular files there, so anything
 * else (a FIFO, a symbolic link, a directory) is refused with `InsecureStorage` and left in place, as at
 * a token path; a regular file that does not decode (empty, or 10 MB) is an abandoned lock or no lease.
 * The FIFO tests feed any reader that opens the FIFO blocking, so a regression fails instead of hanging.
 */
import { assert, describe, it } from "@effect/vitest"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Fifo from "./utils/fifo.js"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

const setup = Effect.gen(function*() {
  const dir = yield* tempTokenDirectory
  const store = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir))
  yield* store.set("alice", fullToken(1))
  return {
    dir,
    store,
    lock: Path.join(dir, "key-alice.lock"),
    lease: Path.join(dir, "key-alice.lease"),
    // The token is untouched: same version, nothing moved aside.
    assertUntouched: Effect.gen(function*() {
      assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).version, 1)
      assert.isFalse(Fs.readdirSync(dir).some((name) => name.includes(".corrupt-")))
    })
  }
})

// A small regular file elsewhere, for symbolic links to point at.
const outsideFile = Effect.map(tempTokenDirectory, (dir) => {
  Fs.mkdirSync(dir, { mode: 0o700 })
  const file = Path.join(dir, "target")
  Fs.writeFileSync(file, "not a lock", { mode: 0o600 })
  return file
})

describe("FileTokenStore: what sits at a lock path", () => {
  it.scoped("a FIFO is refused at once and left in place; the token is untouched", () =>
    Effect.gen(function*() {
      const { assertUntouched, lock, store } = yield* setup
      Fifo.mkfifo(lock)
      const error = yield* Fifo.whileFed(lock, "x", Effect.flip(store.set("alice", fullToken(2))))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.include(error.message, "lock")
      assert.isTrue(Fs.lstatSync(lock).isFIFO())
      yield* assertUntouched
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a FIFO at the breaker of a stale lock is refused too", () =>
    Effect.gen(function*() {
      const { assertUntouched, lock, store } = yield* setup
      // An empty lock file is abandoned: breaking it goes through `<lock>.break`.
      Fs.writeFileSync(lock, "", { mode: 0o600 })
      Fifo.mkfifo(`${lock}.break`)
      const error = yield* Fifo.whileFed(`${lock}.break`, "x", Effect.flip(store.set("alice", fullToken(2))))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.isTrue(Fs.lstatSync(`${lock}.break`).isFIFO())
      yield* assertUntouched
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a symbolic link is not followed (to a file or to a directory), and is left in place", () =>
    Effect.gen(function*() {
      const { assertUntouched, lock, store } = yield* setup
      const target = yield* outsideFile
      for (const to of [target, Path.dirname(target)]) {
        Fs.symlinkSync(to, lock)
        const error = yield* Effect.flip(store.set("alice", fullToken(2)))
        assert.strictEqual(error._tag, "InsecureStorage", to)
        assert.strictEqual(Fs.readlinkSync(lock), to)
        Fs.rmSync(lock)
      }
      assert.strictEqual(Fs.readFileSync(target, "utf8"), "not a lock")
      yield* assertUntouched
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a directory is refused and left in place", () =>
    Effect.gen(function*() {
      const { assertUntouched, lock, store } = yield* setup
      Fs.mkdirSync(lock, { mode: 0o700 })
      const error = yield* Effect.flip(store.set("alice", fullToken(2)))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.isTrue(Fs.lstatSync(lock).isDirectory())
      yield* assertUntouched
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a regular lock file of 10 MB is abandoned: broken, not read whole", () =>
    Effect.gen(function*() {
      const { lock, store } = yield* setup
      Fs.writeFileSync(lock, Buffer.alloc(10 * 1024 * 1024, "{"), { mode: 0o600 })
      assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
      assert.isFalse(Fs.existsSync(lock))
    }).pipe(Effect.provide(NodeLayer)))
})

describe("FileTokenStore: what sits at a lease path", () => {
  it.scoped("a FIFO is refused at once by acquire, renew and release, and left in place", () =>
    Effect.gen(function*() {
      const { lease, store } = yield* setup
      Fifo.mkfifo(lease)
      const errors = yield* Fifo.whileFed(
        lease,
        "x",
        Effect.all([
          Effect.flip(store.acquireLease("alice", "me", "1 minute")),
          Effect.flip(store.renewLease("alice", "me", "1 minute")),
          Effect.flip(store.releaseLease("alice", "me"))
        ])
      )
      assert.deepStrictEqual(errors.map((error) => error._tag), [
        "InsecureStorage",
        "InsecureStorage",
        "InsecureStorage"
      ])
      assert.include(errors[0].message, "lease")
      assert.isTrue(Fs.lstatSync(lease).isFIFO())
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a symbolic link to another store's lease is not followed", () =>
    Effect.gen(function*() {
      const other = yield* setup
      assert.isTrue(yield* other.store.acquireLease("alice", "them", "1 hour"))
      const { lease, store } = yield* setup
      Fs.symlinkSync(other.lease, lease)
      const error = yield* Effect.flip(store.acquireLease("alice", "me", "1 minute"))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.strictEqual(Fs.readlinkSync(lease), other.lease)
      assert.strictEqual(JSON.parse(Fs.readFileSync(other.lease, "utf8")).owner, "them")
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a directory is refused and left in place", () =>
    Effect.gen(function*() {
      const { lease, store } = yield* setup
      Fs.mkdirSync(lease, { mode: 0o700 })
      const error = yield* Effect.flip(store.acquireLease("alice", "me", "1 minute"))
      assert.strictEqual(error._tag, "InsecureStorage")
      assert.isTrue(Fs.lstatSync(lease).isDirectory())
    }).pipe(Effect.provide(NodeLayer)))

  it.scoped("a regular lease file of 10 MB is no lease: it is taken over", () =>
    Effect.gen(function*() {
      const { lease, store } = yield* setup
      Fs.writeFileSync(lease, Buffer.alloc(10 * 1024 * 1024, " "), { mode: 0o600 })
      assert.isTrue(yield* store.acquireLease("alice", "me", "1 minute"))
      assert.strictEqual(JSON.parse(Fs.readFileSync(lease, "utf8")).owner, "me")
    }).pipe(Effect.provide(NodeLayer)))
})
