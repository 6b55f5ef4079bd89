import * as NodeContext from "@effect/platform-node/NodeContext"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as configFile from "../src/internal/configFile.js"
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

// A config directory of its own (0700, as the CLI makes it), removed afterwards.
const inConfigDir = <A, E, R>(self: (dir: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-profile-"))),
    (dir) => withEnv([["TOKENFX_CONFIG_DIR", dir]])(self(dir)),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const writeConfig = (dir: string, content: string) =>
  Fs.writeFileSync(Path.join(dir, "config.json"), content, { mode: 0o600 })

describe("Profile.load", () => {
  it.effect("a deeply nested file is a configuration error (exit 3), not a stack overflow", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const levels = 20_000
        writeConfig(dir, `{"profiles":${"[".repeat(levels)}${"]".repeat(levels)}}`)
        const exit = yield* Effect.exit(Profile.load)
        if (Exit.isFailure(exit) && !Cause.isFailType(exit.cause)) {
          assert.fail(`a defect: ${Cause.pretty(exit.cause).split("\n")[0]}`)
        }
        const error = yield* Effect.flip(Profile.load)
        assert.strictEqual(error.kind, "Configuration")
        assert.include(error.message, `${dir}/config.json is not valid: it nests deeper than 64 levels`)

        // Nesting inside a profile's unknown field counts too; inside a string it does not.
        const deepObject = `${"{\"a\":".repeat(100)}1${"}".repeat(100)}`
        writeConfig(dir, `{"profiles":{"default":{"clientId":"c","tokenEndpoint":"https://as/t","x":${deepObject}}}}`)
        assert.include((yield* Effect.flip(Profile.load)).message, "nests deeper than 64 levels")
        writeConfig(dir, `{"profiles":{"default":{"clientId":"${"[".repeat(levels)}","tokenEndpoint":"https://as/t"}}}`)
        assert.strictEqual((yield* Profile.load).profiles.default?.clientId, "[".repeat(levels))
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("an empty file, or one that is not JSON, says so; a wrong field is named", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        writeConfig(dir, "")
        assert.include((yield* Effect.flip(Profile.load)).message, "is not valid: it is empty")
        writeConfig(dir, "{\"profiles\":")
        assert.include((yield* Effect.flip(Profile.load)).message, "is not valid: it is not JSON")
        writeConfig(dir, `{"profiles":{"default":{"clientId":"c","tokenEndpoint":"https://as/t","scope":[1]}}}`)
        assert.include((yield* Effect.flip(Profile.load)).message, "is not valid at profiles.default.scope.0")
      })
    ).pipe(Effect.provide(NodeContext.layer)))
})

describe("profile names", () => {
  const profile = { clientId: "c", tokenEndpoint: "https://as.example/token" }

  it.effect("a name Object.prototype lends is no profile; __proto__, constructor, prototype are usage errors", () =>
    inConfigDir(() =>
      Effect.gen(function*() {
        yield* Profile.save({ profiles: { default: new Profile.Profile(profile) } })
        for (const name of ["toString", "hasOwnProperty", "valueOf"]) {
          const error = yield* Effect.flip(Profile.get(name))
          assert.strictEqual(error.kind, "Configuration", name)
          assert.include(error.message, `No profile "${name}" is configured`)
        }
        // One that is configured under such a name is found.
        yield* Profile.save({ profiles: { toString: new Profile.Profile({ ...profile, clientId: "t" }) } })
        assert.strictEqual((yield* Profile.get("toString"))[1].clientId, "t")
        for (const name of ["constructor", "__proto__", "prototype"]) {
          const error = yield* Effect.flip(Profile.get(name))
          assert.strictEqual(error.kind, "Usage", name)
          assert.include(error.message, `"${name}" cannot be a profile name.\nNext: choose another name for --profile`)
        }
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a file naming a profile __proto__ is refused by name, never made the prototype of profiles", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        for (const name of ["__proto__", "constructor"]) {
          writeConfig(dir, `{"profiles":{"${name}":{"clientId":"evil","tokenEndpoint":"https://evil.example/t"}}}`)
          const error = yield* Effect.flip(Profile.load)
          assert.strictEqual(error.kind, "Configuration")
          assert.include(
            error.message,
            `is not valid at profiles.${name}: "${name}" cannot be a profile name; rename it`
          )
        }
        writeConfig(dir, `{"defaultProfile":"constructor","profiles":{}}`)
        assert.include((yield* Effect.flip(Profile.load)).message, "is not valid at defaultProfile")

        // Elsewhere such a member is an unknown field: ignored, and nothing inherits from it.
        writeConfig(
          dir,
          `{"__proto__":{"defaultProfile":"x"},"profiles":{"work":{"__proto__":{"scope":["evil"]},"clientId":"c",` +
            `"tokenEndpoint":"https://as.example/token"}}}`
        )
        const config = yield* Profile.load
        assert.strictEqual(Object.getPrototypeOf(config.profiles), Object.prototype)
        assert.isUndefined(config.defaultProfile)
        assert.isUndefined(config.profiles.work?.scope)
        assert.deepStrictEqual(Object.keys(config.profiles), ["work"])
      })
    ).pipe(Effect.provide(NodeContext.layer)))
})

describe("what sits at config.json", () => {
  // Live: with the fix, load answers at once; the timeout only bounds the old code's hang, and the
  // finalizer opens the FIFO for writing so that a reader blocked in open(2) gets out.
  it.live("a FIFO is refused at once, not waited on", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const file = Path.join(dir, "config.json")
        ChildProcess.execFileSync("mkfifo", ["-m", "600", file])
        const error = yield* Effect.flip(Profile.load).pipe(
          Effect.timeoutFail({ duration: "3 seconds", onTimeout: () => "hung on the FIFO" }),
          Effect.ensuring(Effect.sync(() => {
            const fd = Fs.openSync(file, Fs.constants.O_RDWR | Fs.constants.O_NONBLOCK)
            Fs.rmSync(file)
            Fs.closeSync(fd)
          }))
        )
        assert.strictEqual(typeof error === "string" ? error : error.kind, "Configuration")
        assert.include(String(error), `The config file ${file} is refused: it is not a regular file`)
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a symbolic link, a directory and an oversized file are refused; a missing file is no profile", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const file = Path.join(dir, "config.json")
        assert.deepStrictEqual(yield* Profile.load, { profiles: {} })

        writeConfig(dir, "{\"profiles\":{}}")
        Fs.renameSync(file, Path.join(dir, "elsewhere.json"))
        Fs.symlinkSync(Path.join(dir, "elsewhere.json"), file)
        const link = yield* Effect.flip(Profile.load)
        assert.strictEqual(link.kind, "Configuration")
        assert.include(link.message, "is refused: it is a symbolic link.\nNext: replace the link with the file")
        Fs.rmSync(file)

        Fs.mkdirSync(file, { mode: 0o700 })
        assert.include((yield* Effect.flip(Profile.load)).message, "is refused: it is not a regular file")
        Fs.rmdirSync(file)

        writeConfig(dir, `{"profiles":{},"x":"${"a".repeat(1024 * 1024)}"}`)
        assert.include((yield* Effect.flip(Profile.load)).message, "is refused: it is larger than 1048576 bytes")
      })
    ).pipe(Effect.provide(NodeContext.layer)))
})

describe("who may write config.json", () => {
  const config = {
    profiles: { default: new Profile.Profile({ clientId: "c", tokenEndpoint: "https://as.example/token" }) }
  }

  it.effect("tokenfx creates it 0600 in a 0700 directory, whatever the umask", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const nested = Path.join(dir, "a", "tokenfx")
        const umask = process.umask(0)
        yield* Effect.ensuring(
          withEnv([["TOKENFX_CONFIG_DIR", nested]])(Profile.save(config)),
          Effect.sync(() => process.umask(umask))
        )
        assert.strictEqual(Fs.statSync(nested).mode & 0o777, 0o700)
        assert.strictEqual(Fs.statSync(Path.join(nested, "config.json")).mode & 0o777, 0o600)
        assert.deepStrictEqual(yield* withEnv([["TOKENFX_CONFIG_DIR", nested]])(Profile.load), config)
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it.effect("a file or directory that group or others can write to is refused, saying how to fix it", () =>
    inConfigDir((dir) =>
      Effect.gen(function*() {
        const file = Path.join(dir, "config.json")
        yield* Profile.save(config)
        for (const mode of [0o666, 0o620, 0o602]) {
          Fs.chmodSync(file, mode)
          const error = yield* Effect.flip(Profile.get(undefined))
          assert.strictEqual(error.kind, "Configuration")
          assert.include(
            error.message,
            `The config file ${file} has mode 0${mode.toString(8)}: group or others can write`
          )
          assert.include(error.message, `Next: check that its content is yours, then "chmod 600 ${file}"`)
        }
        // Reading reveals no secret: only writing matters.
        Fs.chmodSync(file, 0o644)
        assert.strictEqual((yield* Profile.get(undefined))[1].clientId, "c")

        for (const mode of [0o777, 0o1777, 0o730]) {
          Fs.chmodSync(dir, mode)
          const error = yield* Effect.flip(Profile.load)
          assert.strictEqual(error.kind, "Configuration")
          assert.include(error.message, `The config directory ${dir} has mode 0${(mode & 0o777).toString(8)}`)
          assert.include(error.message, `"chmod 700 ${dir}"`)
        }
        // Refused before anything is written there either.
        Fs.rmSync(file)
        assert.strictEqual((yield* Effect.flip(Profile.load)).kind, "Configuration")
        Fs.chmodSync(dir, 0o755)
        assert.deepStrictEqual(yield* Profile.load, { profiles: {} })
      })
    ).pipe(Effect.provide(NodeContext.layer)))

  it("a file or directory another user owns is refused; nothing is checked where there is no user id", () => {
    const owned = configFile.insecurity("file", "/c/config.json", { mode: 0o100600, uid: 1001 }, 1000)
    assert.include(
      owned?.message,
      "The config file /c/config.json belongs to user 1001, not to this process's user 1000"
    )
    assert.include(owned?.message, `Next: check that its content is yours, then "chown 1000 /c/config.json"`)
    const directory = configFile.insecurity("directory", "/c", { mode: 0o40700, uid: 0 }, 1000)
    assert.strictEqual(directory?.kind, "Configuration")
    assert.isUndefined(configFile.insecurity("file", "/c/config.json", { mode: 0o100600, uid: 1000 }, 1000))
    assert.isUndefined(configFile.insecurity("file", "/c/config.json", { mode: 0o100666, uid: 1 }, undefined))
  })
})
