/**
 * The command line run in process, for exit codes and what is printed. No server: these commands stop
 * before the network.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Commands from "@tokenfx/cli/Commands"
import * as Profile from "@tokenfx/cli/Profile"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

// Runs `tokenfx args` in a config directory of its own holding `config`; answers the exit code and
// everything printed.
const tokenfx = (
  args: ReadonlyArray<string>,
  config: Profile.ConfigFile,
  prepare: (dir: string) => void = () => {}
) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-commands-"))),
    (dir) =>
      Effect.gen(function*() {
        yield* Profile.save(config)
        prepare(dir)
        const output: Array<string> = []
        const record = (...values: ReadonlyArray<unknown>) => Effect.sync(() => void output.push(values.join(" ")))
        const console = yield* Console.consoleWith(Effect.succeed)
        const code = yield* Effect.withConsole(Commands.run(["node", "tokenfx", ...args]), {
          ...console,
          log: record,
          error: record
        })
        return { code, output: output.join("\n") }
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TOKENFX_CONFIG_DIR", dir]])))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)))

const configured: Profile.ConfigFile = {
  profiles: { default: new Profile.Profile({ clientId: "c", tokenEndpoint: "https://as.example/token" }) }
}

describe("profile names on the command line", () => {
  it.effect("--profile constructor is a usage error (exit 2) for every command, never Object taken as a profile", () =>
    Effect.gen(function*() {
      for (const args of [["token"], ["status"], ["logout"], ["exec", "--", "true"], ["login", "--device"]]) {
        const { code, output } = yield* tokenfx([args[0]!, "--profile", "constructor", ...args.slice(1)], configured)
        assert.strictEqual(code, 2, `${args[0]}: ${output}`)
        assert.include(output, `tokenfx: "constructor" cannot be a profile name.\nNext: choose another name`)
        assert.notInclude(output, "undefined")
      }
    }))

  it.effect("--profile toString is a profile that is not configured (exit 3)", () =>
    Effect.gen(function*() {
      const { code, output } = yield* tokenfx(["status", "--profile", "toString"], configured)
      assert.strictEqual(code, 3, output)
      assert.include(output, `No profile "toString" is configured`)
      assert.notInclude(output, "server:")
    }))
})

describe("config.json's permissions", () => {
  it.effect("a config file others can write to stops every command with exit 3 and the chmod to run", () =>
    Effect.gen(function*() {
      for (const args of [["token"], ["status"], ["login", "--device"]]) {
        const { code, output } = yield* tokenfx(
          args,
          configured,
          (dir) => Fs.chmodSync(Path.join(dir, "config.json"), 0o666)
        )
        assert.strictEqual(code, 3, `${args[0]}: ${output}`)
        assert.match(output, /^tokenfx: The config file \S+ has mode 0666: group or others can write to it/)
        assert.match(output, /Next: check that its content is yours, then "chmod 600 \S+config.json"\.$/)
      }
    }))
})
