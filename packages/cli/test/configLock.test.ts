/**
 * The lock beside config.json, on a TestClock: waiters retry on `Clock`, so time moves only when the
 * test moves it.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as configLock from "../src/internal/configLock.js"

const inDir = <A, E, R>(self: (lock: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-lock-"))),
    (dir) => self(Path.join(dir, "config.json.lock")),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.provide(NodeContext.layer))

const plant = (lock: string, holder: object) => Fs.writeFileSync(lock, JSON.stringify(holder), { mode: 0o600 })

// Moves the clock by `step` once `fiber` waits on it (its file operations run in real time first);
// answers whether the fiber is still running.
const tick = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, step: Duration.DurationInput) =>
  Effect.gen(function*() {
    while (fiber.unsafePoll() === null && (yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
    if (fiber.unsafePoll() !== null) return false
    yield* TestClock.adjust(step)
    return true
  })

// A pid that no process has any more: a child that has exited.
const deadPid = () => ChildProcess.spawnSync(process.execPath, ["-e", ""]).pid!

describe("configLock", () => {
  it.effect("one holder at a time: a second waits until the first releases, and nothing is left behind", () =>
    inDir((lock) =>
      Effect.gen(function*() {
        const events: Array<string> = []
        const entered = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const first = yield* Effect.fork(configLock.withLock(
          lock,
          Effect.sync(() => events.push("first in")).pipe(
            Effect.zipRight(Deferred.succeed(entered, undefined)),
            Effect.zipRight(Deferred.await(release))
          )
        ))
        yield* Deferred.await(entered)
        const second = yield* Effect.fork(configLock.withLock(lock, Effect.sync(() => events.push("second in"))))
        for (let i = 0; i < 20; i++) assert.isTrue(yield* tick(second, "250 millis"))
        assert.deepStrictEqual(events, ["first in"])

        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(first)
        while (yield* tick(second, "50 millis"));
        yield* Fiber.join(second)
        assert.deepStrictEqual(events, ["first in", "second in"])
        assert.deepStrictEqual(Fs.readdirSync(Path.dirname(lock)), [])
      })
    ))

  it.effect("a lock left by a dead process on this host, or a garbled one, is broken at once", () =>
    inDir((lock) =>
      Effect.gen(function*() {
        plant(lock, { pid: deadPid(), host: Os.hostname(), nonce: "n", at: 0 })
        assert.strictEqual(yield* configLock.withLock(lock, Effect.succeed("in")), "in")
        Fs.writeFileSync(lock, "{\"pid\":", { mode: 0o600 })
        assert.strictEqual(yield* configLock.withLock(lock, Effect.succeed("in")), "in")
        assert.isFalse(Fs.existsSync(lock))
      })
    ))

  it.effect("a live holder is waited for up to the timeout, then the error says which process and what to do", () =>
    inDir((lock) =>
      Effect.gen(function*() {
        plant(lock, { pid: process.ppid, host: Os.hostname(), nonce: "n", at: 0 })
        const waiter = yield* Effect.fork(Effect.flip(configLock.withLock(lock, Effect.succeed("in"))))
        for (let i = 0; i < 9; i++) assert.isTrue(yield* tick(waiter, "1 second"), `done after ${i} s`)
        let seconds = 9
        while (yield* tick(waiter, "1 second")) seconds++
        // A waiter reads the clock when its wait ends (a jittered 20 ms after the last look).
        assert.isAtMost(seconds, 11)
        const error = yield* Fiber.join(waiter)
        // Its last look may read the clock after TestClock has moved to the end of the step: its file
        // operations run in real time, and TestClock takes a fiber waiting on them for a sleeping one.
        assert.match(error.message, /config file for (10|11)s\b/)
        assert.strictEqual(error.kind, "Failure")
        assert.include(error.message, `Another tokenfx process (pid ${process.ppid}) has been changing the config file`)
        assert.include(error.message, `Next: retry; if no tokenfx is running, remove ${lock}.`)
        assert.isTrue(Fs.existsSync(lock), "another's live lock was removed")
      })
    ))

  it.effect("another host's lock is trusted until it is older than staleAfter", () =>
    inDir((lock) =>
      Effect.gen(function*() {
        yield* TestClock.adjust("1 minute")
        plant(lock, { pid: 1, host: "elsewhere", nonce: "n", at: 40_000 })
        const options = { timeout: "1 minute", staleAfter: "30 seconds" } as const
        const waiter = yield* Effect.fork(configLock.withLock(lock, Effect.succeed("in"), options))
        // Planted at 40 s, seen from 60 s: stale once older than 30 s, past 70 s.
        for (let i = 0; i < 9; i++) assert.isTrue(yield* tick(waiter, "1 second"), `done at ${60 + i} s`)
        let seconds = 9
        while (yield* tick(waiter, "1 second")) seconds++
        assert.isAtMost(seconds, 12)
        assert.strictEqual(yield* Fiber.join(waiter), "in")
      })
    ))

  it.effect("interrupted while it waits, it leaves the holder's lock; interrupted while held, it gives it back", () =>
    inDir((lock) =>
      Effect.gen(function*() {
        plant(lock, { pid: process.ppid, host: Os.hostname(), nonce: "n", at: 0 })
        const waiter = yield* Effect.fork(configLock.withLock(lock, Effect.void))
        assert.isTrue(yield* tick(waiter, "1 second"))
        yield* Fiber.interrupt(waiter)
        assert.include(Fs.readFileSync(lock, "utf8"), "\"nonce\":\"n\"")
        Fs.rmSync(lock)

        const holder = yield* Effect.fork(configLock.withLock(lock, Effect.never))
        while (!Fs.existsSync(lock)) yield* Effect.yieldNow()
        yield* Fiber.interrupt(holder)
        assert.deepStrictEqual(Fs.readdirSync(Path.dirname(lock)), [])
      })
    ))
})
