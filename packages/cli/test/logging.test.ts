/**
 * What the CLI logs when nobody asked (`TOKENFX_LOG` unset): errors, on stderr. A store that does not
 * take the refreshed token (a read-only or full disk) is the case in point: `tokenfx token` still prints
 * the token, the manager retries the write until the process ends, and with rotation the grant is lost
 * with it. The user must hear of it; before, it all went unsaid.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Commands from "@tokenfx/cli/Commands"
import * as Profile from "@tokenfx/cli/Profile"
import * as Token from "@tokenfx/core/Token"
import * as TokenStore from "@tokenfx/core/TokenStore"
import * as FileTokenStore from "@tokenfx/storage/FileTokenStore"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as logging from "../src/internal/logging.js"

// Node's file system, but while `disk.readOnly` a token file cannot be replaced (EROFS); its lease can.
const disk = { readOnly: false }
const fileSystem = Layer.effect(
  FileSystem.FileSystem,
  Effect.map(FileSystem.FileSystem, (fs) =>
    FileSystem.FileSystem.of({
      ...fs,
      rename: (from, to) =>
        disk.readOnly && !to.endsWith(".lease")
          ? Effect.fail(
            new PlatformError.SystemError({
              reason: "Unknown",
              module: "FileSystem",
              method: "rename",
              pathOrDescriptor: to,
              description: "EROFS: read-only file system"
            })
          )
          : fs.rename(from, to)
    }))
).pipe(Layer.provide(NodeFileSystem.layer))

// The token endpoint rotates the refresh token.
const server = Layer.succeed(
  HttpClient.HttpClient,
  HttpClient.make((request) =>
    Effect.succeed(HttpClientResponse.fromWeb(
      request,
      new Response(
        JSON.stringify({ access_token: "at-new-0123456789", refresh_token: "rt-new-0123456789", expires_in: 3600 }),
        { status: 200, headers: { "content-type": "application/json" } }
      )
    ))
  )
)

const profile = new Profile.Profile({ clientId: "cli", tokenEndpoint: "https://as.example/token" })

/**
 * `tokenfx token` as `bin.ts` runs it (its logger, `TOKENFX_LOG` as `env` sets it) on a store that has
 * an expired token and takes no write; the test clock is moved on until the command ends.
 */
const tokenOnReadOnlyDisk = (env: Record<string, string>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-logging-"))),
    (dir) =>
      Effect.gen(function*() {
        disk.readOnly = false
        yield* Profile.save({ profiles: { default: profile } })
        const expired = Token.make({
          access_token: Redacted.make("at-old-0123456789"),
          refresh_token: Redacted.make("rt-old-0123456789"),
          expires_in: 60
        }, 0)
        yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set("default", expired)).pipe(
          Effect.provide(FileTokenStore.layerFileSystem(Path.join(dir, "tokens")))
        )
        yield* TestClock.adjust("1 hour")
        disk.readOnly = true
        const stdout: Array<string> = []
        const stderr: Array<string> = []
        const console = yield* Console.consoleWith(Effect.succeed)
        const run = Effect.flatMap(
          logging.level,
          (level) => Logger.withMinimumLogLevel(Commands.run(["node", "tokenfx", "token"]), level)
        ).pipe(
          Effect.withConsole({
            ...console,
            log: (...values) => Effect.sync(() => void stdout.push(values.join(" "))),
            error: (...values) => Effect.sync(() => void stderr.push(values.join(" "))),
            // What loggers write through.
            unsafe: { ...console.unsafe, error: (...values) => void stderr.push(values.join(" ")) }
          }),
          Effect.provide(logging.layer)
        )
        const fiber = yield* Effect.fork(run)
        while (fiber.unsafePoll() === null) yield* TestClock.adjust("1 second")
        const code = yield* Fiber.join(fiber)
        return { code, stdout: stdout.join("\n"), stderr: stderr.join("\n") }
      }).pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["TOKENFX_CONFIG_DIR", dir], ...Object.entries(env)]))
        )
      ),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.provide(Layer.mergeAll(NodeContext.layer, fileSystem, server)))

describe("the CLI's logs", () => {
  it.effect("unasked, a refreshed token the store does not take is said on stderr; the token is still printed", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* tokenOnReadOnlyDisk({})
      assert.strictEqual(code, 0, stderr)
      assert.strictEqual(stdout, "at-new-0123456789")
      assert.include(stderr, "could not store a refreshed token")
      assert.include(stderr, "closed before a refreshed token was stored")
      assert.include(stderr, "key=default")
      for (const secret of ["at-new", "rt-new", "at-old", "rt-old"]) assert.notInclude(stderr, secret)
    }))

  it.effect("TOKENFX_LOG=none keeps stderr empty", () =>
    Effect.gen(function*() {
      const { code, stderr, stdout } = yield* tokenOnReadOnlyDisk({ TOKENFX_LOG: "none" })
      assert.strictEqual(code, 0, stderr)
      assert.strictEqual(stdout, "at-new-0123456789")
      assert.strictEqual(stderr, "")
    }))
})
