import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Profile from "../src/Profile.js"

const withEnv = (entries: ReadonlyArray<readonly [string, string]>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries)))

describe("Profile", () => {
  it.effect("finds the config directory: TOKENFX_CONFIG_DIR, else XDG_CONFIG_HOME, else HOME", () =>
    Effect.gen(function*() {
      const explicit = yield* withEnv([["TOKENFX_CONFIG_DIR", "/a"], ["XDG_CONFIG_HOME", "/b"], ["HOME", "/c"]])(
        Profile.locations
      )
      assert.strictEqual(explicit.directory, "/a")
      const xdg = yield* withEnv([["XDG_CONFIG_HOME", "/b"], ["HOME", "/c"]])(Profile.locations)
      assert.deepStrictEqual(xdg, {
        directory: "/b/tokenfx",
        configFile: "/b/tokenfx/config.json",
        tokenDirectory: "/b/tokenfx/tokens"
      })
      const home = yield* withEnv([["HOME", "/c"]])(Profile.locations)
      assert.strictEqual(home.directory, "/c/.config/tokenfx")
      const none = yield* Effect.flip(withEnv([])(Profile.locations))
      assert.strictEqual(none.kind, "Configuration")
    }).pipe(Effect.provide(NodeContext.layer)))

  it.effect("saves 0600 atomically and loads back; a broken file names itself and the fix", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-profile-"))
      const env = withEnv([["TOKENFX_CONFIG_DIR", dir]])
      const config = {
        profiles: { default: new Profile.Profile({ clientId: "c", tokenEndpoint: "https://as.example/token" }) }
      }
      yield* env(Profile.save(config))
      assert.strictEqual(Fs.statSync(Path.join(dir, "config.json")).mode & 0o777, 0o600)
      assert.deepStrictEqual(Fs.readdirSync(dir), ["config.json"])
      const [name, profile] = yield* env(Profile.get(undefined))
      assert.strictEqual(name, "default")
      assert.strictEqual(profile.clientId, "c")

      Fs.writeFileSync(Path.join(dir, "config.json"), "{\"profiles\":{\"default\":{\"clientId\":\"\"}}}")
      const broken = yield* Effect.flip(env(Profile.load))
      assert.strictEqual(broken.kind, "Configuration")
      assert.include(broken.message, `${dir}/config.json is not valid at profiles.default`)
      assert.include(broken.message, "Next: fix it, or remove it")
      Fs.rmSync(dir, { recursive: true, force: true })
    }).pipe(Effect.provide(NodeContext.layer)))
})
