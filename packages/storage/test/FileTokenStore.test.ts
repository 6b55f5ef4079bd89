import { assert, describe, it } from "@effect/vitest"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as RawTokenStore from "@tokenfx/storage/RawTokenStore"
import { fullToken, minimalToken } from "@tokenfx/testing/TokenStoreSuite"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { NodeLayer, tempTokenDirectory } from "./utils/layers.js"

const modeOf = (path: string) => Fs.statSync(path).mode & 0o777

const setup = (options?: FileTokenStore.Options) =>
  Effect.gen(function*() {
    const dir = yield* tempTokenDirectory
    const raw = yield* FileTokenStore.make(dir, options)
    return { dir, raw, store: RawTokenStore.toTokenStore(raw) }
  })

/** Every entry of the directory, files only (the store never makes sub-directories). */
const entries = (dir: string) => Fs.readdirSync(dir).sort()

const tokenFiles = (dir: string) => entries(dir).filter((name) => name.endsWith(".json"))

const only = <A>(items: ReadonlyArray<A>): A => {
  assert.strictEqual(items.length, 1, `expected exactly one, got ${items.length}`)
  return items[0]
}

/** A pid that no longer runs: a child that has exited. */
const deadPid = (): number => {
  const child = ChildProcess.spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"])
  return Number(child.stdout.toString())
}

describe("FileTokenStore", () => {
  describe("permissions", () => {
    it.scoped("creates the directory 0700 (parents included) and token files 0600", () =>
      Effect.gen(function*() {
        const base = yield* tempTokenDirectory
        const dir = Path.join(base, "nested", "deeper")
        const store = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir))
        assert.strictEqual(modeOf(dir), 0o700)
        yield* store.set("alice", fullToken(1))
        yield* store.acquireLease("alice", "owner", "1 minute")
        assert.isAbove(entries(dir).length, 0)
        for (const name of entries(dir)) assert.strictEqual(modeOf(Path.join(dir, name)), 0o600, name)
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("refuses a token file that group or others can read, without moving it", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        const file = Path.join(dir, only(tokenFiles(dir)))
        for (const mode of [0o640, 0o604, 0o660, 0o666]) {
          Fs.chmodSync(file, mode)
          const error = yield* Effect.flip(store.get("alice"))
          assert.strictEqual(error._tag, "InsecureStorage")
          assert.include(error.message, mode.toString(8))
          assert.notInclude(error.message, "access-1")
          assert.isTrue(Fs.existsSync(file))
        }
        // A write replaces the file with a private one.
        yield* store.set("alice", fullToken(2))
        assert.strictEqual(modeOf(file), 0o600)
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(2)))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("strictPermissions: false reads a file others can read", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup({ strictPermissions: false })
        yield* store.set("alice", fullToken(1))
        Fs.chmodSync(Path.join(dir, only(tokenFiles(dir))), 0o644)
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(1)))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("refuses a token file that belongs to another user, unless relaxed", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        const file = Path.join(dir, only(tokenFiles(dir)))
        assert.strictEqual(Fs.statSync(file).uid, process.geteuid!(), "written as this user")
        // Only root can give a file away; elsewhere the test stops at the file being ours.
        if (process.geteuid!() !== 0) return
        Fs.chownSync(file, 12345, 12345)
        const error = yield* Effect.flip(store.get("alice"))
        assert.strictEqual(error._tag, "InsecureStorage")
        assert.include(error.message, "belongs to user 12345")
        assert.isTrue(Fs.existsSync(file))
        const relaxed = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir, { strictPermissions: false }))
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* relaxed.get("alice")).token, fullToken(1)))
        // A write replaces it with a file of this user's.
        yield* store.set("alice", fullToken(2))
        assert.strictEqual(Fs.statSync(file).uid, process.geteuid!())
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(2)))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("refuses a directory that group or others can write to, unless relaxed", () =>
      Effect.gen(function*() {
        const dir = yield* tempTokenDirectory
        Fs.mkdirSync(dir, { mode: 0o700 })
        Fs.chmodSync(dir, 0o777)
        const error = yield* Effect.flip(FileTokenStore.make(dir))
        assert.strictEqual(error._tag, "InsecureStorage")
        assert.include(error.message, "0777")
        yield* FileTokenStore.make(dir, { strictPermissions: false })
        Fs.chmodSync(dir, 0o755)
        yield* FileTokenStore.make(dir)
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a path that is a file is a typed error", () =>
      Effect.gen(function*() {
        const dir = yield* tempTokenDirectory
        Fs.writeFileSync(dir, "not a directory")
        const error = yield* Effect.flip(FileTokenStore.make(dir))
        assert.strictEqual(error._tag, "TokenStoreError")
      }).pipe(Effect.provide(NodeLayer)))
  })

  describe("corrupted files", () => {
    const corrupt = (title: string, damage: (file: string) => void, reason: string) =>
      it.scoped(`${title}: CorruptedToken, and the file is kept aside`, () =>
        Effect.gen(function*() {
          const { dir, store } = yield* setup()
          yield* store.set("alice", fullToken(1))
          const file = Path.join(dir, only(tokenFiles(dir)))
          damage(file)
          const damaged = Fs.readFileSync(file)
          const error = yield* Effect.flip(store.get("alice"))
          assert.strictEqual(error._tag, "CorruptedToken")
          if (error._tag !== "CorruptedToken") return
          assert.include(error.reason, reason)
          assert.notInclude(error.message, "access-1")
          assert.notInclude(error.message, "refresh-1")
          assert.isDefined(error.movedTo)
          assert.match(error.movedTo!, /\.json\.corrupt-\d{4}-\d\d-\d\dT[\d-]+Z$/)
          assert.deepStrictEqual(Fs.readFileSync(error.movedTo!), damaged, "kept byte for byte")
          assert.strictEqual(modeOf(error.movedTo!), 0o600)
          // Then the key reads as empty, and can be written again.
          assert.isTrue(Option.isNone(yield* store.get("alice")))
          const written = Option.getOrThrow(yield* store.compareAndSet("alice", fullToken(2), undefined))
          assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(2)))
          assert.isAtLeast(written.version, 1)
          assert.isTrue(Fs.existsSync(error.movedTo!))
        }).pipe(Effect.provide(NodeLayer)))

    corrupt("an empty file", (file) => Fs.writeFileSync(file, ""), "empty")
    corrupt(
      "a truncated file",
      (file) => Fs.truncateSync(file, Math.floor(Fs.statSync(file).size / 2)),
      "not valid JSON"
    )
    corrupt("garbage", (file) => Fs.writeFileSync(file, "\u0000\u0001garbage\uFFFF"), "not valid JSON")
    corrupt("JSON that is not a token file", (file) => Fs.writeFileSync(file, `{"hello":"world"}`), "invalid")
    corrupt(
      "a token file whose token does not decode",
      (file) => {
        const envelope = JSON.parse(Fs.readFileSync(file, "utf8"))
        Fs.writeFileSync(file, JSON.stringify({ ...envelope, data: JSON.stringify({ format: 1, token: {} }) }))
      },
      "token"
    )
    corrupt(
      "a token file copied from another key",
      (file) => {
        const envelope = JSON.parse(Fs.readFileSync(file, "utf8"))
        Fs.writeFileSync(file, JSON.stringify({ ...envelope, key: "mallory" }))
      },
      "another key"
    )

    it.scoped("a corrupted file found by a write is kept aside too, and the write goes through", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        Fs.writeFileSync(Path.join(dir, only(tokenFiles(dir))), "{")
        yield* store.set("alice", fullToken(2))
        assert.isTrue(Token.Equivalence(Option.getOrThrow(yield* store.get("alice")).token, fullToken(2)))
        const aside = entries(dir).filter((name) => name.includes(".corrupt-"))
        assert.strictEqual(Fs.readFileSync(Path.join(dir, only(aside)), "utf8"), "{")
      }).pipe(Effect.provide(NodeLayer)))
  })

  describe("file names", () => {
    const awkward = [
      "../x",
      "../../etc/passwd",
      "a/b",
      "a\\b",
      "/absolute",
      "..",
      ".",
      "",
      ".hidden",
      "CON",
      "Alice",
      "alice",
      "nul\u0000byte",
      "ünïcødé ✓ 🔑",
      "\uD800 lone surrogate",
      "%0041",
      "x".repeat(1000),
      "é".repeat(300)
    ]

    it.scoped("awkward keys stay inside the directory, distinct, and listable", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        const parent = Path.dirname(dir)
        const parentBefore = entries(parent)
        yield* Effect.forEach(awkward, (key, i) => store.set(key, minimalToken(i)))
        for (const [i, key] of awkward.entries()) {
          const entry = Option.getOrThrow(yield* store.get(key))
          assert.isTrue(Token.Equivalence(entry.token, minimalToken(i)), JSON.stringify(key))
        }
        assert.deepStrictEqual(entries(parent), parentBefore, "nothing written next to the directory")
        for (const name of entries(dir)) {
          assert.isTrue(Fs.statSync(Path.join(dir, name)).isFile(), name)
          assert.isAtMost(Buffer.byteLength(name), 255, name)
          assert.match(name, /^[a-z0-9_%A-F.-]+$/, "names are plain ASCII")
        }
        assert.strictEqual(tokenFiles(dir).length, awkward.length)
        assert.deepStrictEqual(yield* store.keys, [...awkward].sort())
        assert.strictEqual(yield* store.size, awkward.length)
        for (const key of awkward) assert.isTrue(yield* store.remove(key))
        assert.strictEqual(yield* store.size, 0)
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a removed token leaves no secret on disk", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        yield* store.remove("alice")
        for (const name of entries(dir)) {
          const content = Fs.readFileSync(Path.join(dir, name), "utf8")
          assert.notInclude(content, "access-1")
          assert.notInclude(content, "refresh-1")
        }
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("writes leave no temporary or lock file behind", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* Effect.all(
          Array.from({ length: 10 }, (_, i) => store.set("alice", fullToken(i))),
          { concurrency: "unbounded" }
        )
        yield* store.acquireLease("alice", "a", "1 minute")
        assert.deepStrictEqual(entries(dir).filter((name) => !name.endsWith(".lease")), tokenFiles(dir))
        assert.strictEqual(Option.getOrThrow(yield* store.get("alice")).version, 10)
      }).pipe(Effect.provide(NodeLayer)))
  })

  describe("lock files", () => {
    const lockFile = (dir: string) => Path.join(dir, only(tokenFiles(dir)).replace(/\.json$/, ".lock"))

    it.scoped("a lock left by a dead process on this host is broken", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        const first = yield* store.set("alice", fullToken(1))
        const lock = lockFile(dir)
        Fs.writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: Os.hostname(), thread: 0, nonce: "x", at: 0 }))
        const second = Option.getOrThrow(yield* store.compareAndSet("alice", fullToken(2), first.version))
        assert.strictEqual(second.version, first.version + 1)
        assert.isFalse(Fs.existsSync(lock))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a lock left by an earlier process with this very pid (a restarted container) is broken", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        Fs.writeFileSync(
          lockFile(dir),
          JSON.stringify({ pid: process.pid, host: Os.hostname(), thread: 0, nonce: "not-ours", at: 0 })
        )
        assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("an unreadable lock file is broken", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        yield* store.set("alice", fullToken(1))
        Fs.writeFileSync(lockFile(dir), "")
        assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
      }).pipe(Effect.provide(NodeLayer)))

    it.scopedLive("a lock held by a live process makes a write wait, then fail with a typed error", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup({ lockTimeout: "300 millis" })
        yield* store.set("alice", fullToken(1))
        const lock = lockFile(dir)
        // Fresh: a lock older than staleLockAfter is broken whatever pid it names.
        Fs.writeFileSync(
          lock,
          JSON.stringify({ pid: process.ppid, host: Os.hostname(), thread: 0, nonce: "x", at: Date.now() })
        )
        const error = yield* Effect.flip(store.set("alice", fullToken(2)))
        assert.strictEqual(error._tag, "TokenStoreError")
        assert.include(error.message, `pid ${process.ppid}`)
        // The holder lets go: writes proceed.
        Fs.rmSync(lock)
        assert.strictEqual((yield* store.set("alice", fullToken(3))).version, 2)
      }).pipe(Effect.provide(NodeLayer)))

    it.scopedLive("a lock from another host is broken once older than staleLockAfter", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup({ lockTimeout: "5 seconds", staleLockAfter: "200 millis" })
        yield* store.set("alice", fullToken(1))
        Fs.writeFileSync(
          lockFile(dir),
          JSON.stringify({ pid: 1, host: "elsewhere.invalid", thread: 0, nonce: "x", at: Date.now() })
        )
        const started = Date.now()
        assert.strictEqual((yield* store.set("alice", fullToken(2))).version, 2)
        assert.isAtLeast(Date.now() - started, 150)
      }).pipe(Effect.provide(NodeLayer)))
  })

  describe("lease files", () => {
    const leaseFile = (dir: string) => Path.join(dir, only(entries(dir).filter((name) => name.endsWith(".lease"))))

    it.scoped("a lease holds owner, pid, host and deadline from Clock", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        assert.isTrue(yield* store.acquireLease("alice", "owner-1", "30 seconds"))
        const lease = JSON.parse(Fs.readFileSync(leaseFile(dir), "utf8"))
        assert.deepStrictEqual(
          { owner: lease.owner, pid: lease.pid, host: lease.host, deadline: lease.deadline },
          { owner: "owner-1", pid: process.pid, host: Os.hostname(), deadline: 30_000 }
        )
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a lease whose process died on this host is taken over before its deadline", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        assert.isTrue(yield* store.acquireLease("alice", "a", "1 hour"))
        const file = leaseFile(dir)
        const lease = JSON.parse(Fs.readFileSync(file, "utf8"))
        Fs.writeFileSync(file, JSON.stringify({ ...lease, pid: deadPid() }))
        assert.isTrue(yield* store.acquireLease("alice", "b", "1 minute"))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a lease of a live process elsewhere, or on another host, is honoured until its deadline", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        assert.isTrue(yield* store.acquireLease("alice", "a", "1 hour"))
        const file = leaseFile(dir)
        const lease = JSON.parse(Fs.readFileSync(file, "utf8"))
        Fs.writeFileSync(file, JSON.stringify({ ...lease, pid: process.ppid }))
        assert.isFalse(yield* store.acquireLease("alice", "b", "1 minute"))
        Fs.writeFileSync(file, JSON.stringify({ ...lease, pid: deadPid(), host: "elsewhere.invalid" }))
        assert.isFalse(yield* store.acquireLease("alice", "b", "1 minute"))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("a lease file that does not decode is no lease", () =>
      Effect.gen(function*() {
        const { dir, store } = yield* setup()
        assert.isTrue(yield* store.acquireLease("alice", "a", "1 hour"))
        Fs.writeFileSync(leaseFile(dir), "{")
        assert.isTrue(yield* store.acquireLease("alice", "b", "1 minute"))
      }).pipe(Effect.provide(NodeLayer)))

    it.scoped("two stores on one directory share versions and leases", () =>
      Effect.gen(function*() {
        const dir = yield* tempTokenDirectory
        const a = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir))
        const b = RawTokenStore.toTokenStore(yield* FileTokenStore.make(dir))
        const first = yield* a.set("alice", fullToken(1))
        assert.isTrue(Option.isSome(yield* b.compareAndSet("alice", fullToken(2), first.version)))
        assert.isTrue(Option.isNone(yield* a.compareAndSet("alice", fullToken(3), first.version)))
        assert.isTrue(yield* a.acquireLease("alice", "a", "1 minute"))
        assert.isFalse(yield* b.acquireLease("alice", "b", "1 minute"))
        const errors = yield* Effect.all([a.get("nobody"), b.get("nobody")])
        assert.isTrue(errors.every(Option.isNone))
      }).pipe(Effect.provide(NodeLayer)))
  })

  it.scoped("errors are store errors that never carry a secret", () =>
    Effect.gen(function*() {
      const { dir, store } = yield* setup()
      yield* store.set("alice", fullToken(1))
      const file = Path.join(dir, only(tokenFiles(dir)))
      Fs.writeFileSync(file, Fs.readFileSync(file, "utf8").slice(0, -3))
      const error = yield* Effect.flip(store.get("alice"))
      assert.isTrue(TokenStore.isStoreError(error))
      const printed = `${error.message} ${String(error)} ${JSON.stringify(error)}`
      assert.notInclude(printed, "access-1")
      assert.notInclude(printed, "refresh-1")
    }).pipe(Effect.provide(NodeLayer)))
})
