import { afterAll, assert, layer } from "@effect/vitest"
import * as FaultProxy from "@tokenfx/testing/FaultProxy"
import * as OidcProvider from "@tokenfx/testing/OidcProvider"
import * as Effect from "effect/Effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Cli from "./utils/cli.js"

// The CLI in child processes, against a real OpenID provider on 127.0.0.1. The config directory comes
// from XDG_CONFIG_HOME, so nothing touches the user's own.
const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-cli-"))
const configDir = Path.join(home, "tokenfx")
const tokenDir = Path.join(configDir, "tokens")
afterAll(() => Fs.rmSync(home, { recursive: true, force: true }))

const env = { XDG_CONFIG_HOME: home }

// Every output of every command but `token`, and every secret seen, for the canary at the end.
const outputs: Array<string> = []
const secrets = new Set<string>()

const tokenfx = (args: ReadonlyArray<string>, extra: Record<string, string> = {}) =>
  Effect.tap(Cli.run(args, { ...env, ...extra }), (result) =>
    Effect.sync(() => {
      if (args[0] === "token") {
        if (result.stdout.trim().length > 0) secrets.add(result.stdout.trim())
        outputs.push(result.stderr)
      } else {
        outputs.push(result.stdout, result.stderr)
      }
    }))

const tokenFiles = (dir = tokenDir) =>
  Fs.existsSync(dir) ? Fs.readdirSync(dir).filter((name) => name.endsWith(".json")) : []

// The stored token of a profile (an unencrypted store): the envelope and the token in it.
const readStored = (file: string) => {
  const envelope = JSON.parse(Fs.readFileSync(Path.join(tokenDir, file), "utf8"))
  const token = envelope.data === null ? null : JSON.parse(envelope.data).token
  return { envelope, token }
}

// The profiles that have a token stored (a removed token leaves a tombstone behind).
const storedTokens = () => tokenFiles().filter((file) => readStored(file).token !== null)

const rememberSecrets = () => {
  for (const file of tokenFiles()) {
    const { token } = readStored(file)
    if (token === null) continue
    for (const field of ["accessToken", "refreshToken", "idToken"]) {
      if (typeof token[field] === "string") secrets.add(token[field])
    }
  }
}

// A command for `exec` that says "command: ready", counts `signal`, and half a second after the first
// says how many came (a second copy of one signal arrives within that) and exits with `code`.
const counting = (signal: NodeJS.Signals, code: number, stream: "log" | "error") =>
  `let n = 0; process.on("${signal}", () => { n++; setTimeout(() => { console.${stream}("command: ${signal} x" + n); ` +
  `process.exit(${code}) }, 500) }); console.${stream}("command: ready"); setInterval(() => {}, 1000)`

// Moves the stored token's expiry into the past, as if the process had slept through it.
const expireStored = (file: string) => {
  const { envelope, token } = readStored(file)
  token.expiresAt = new Date(Date.now() - 60_000).toISOString()
  envelope.data = JSON.stringify({ format: 1, token })
  envelope.expiresAt = Date.now() - 60_000
  Fs.writeFileSync(Path.join(tokenDir, file), JSON.stringify(envelope), { mode: 0o600 })
}

const mode = (file: string) => Fs.statSync(file).mode & 0o777

const resource = (server: OidcProvider.OidcServer, token: string) =>
  Effect.promise(() => fetch(server.resourceUrl, { headers: { authorization: `Bearer ${token}` } }))

// The default profile's token endpoint behind a proxy that holds its next request `millis` before the
// server sees it, for the scope's life.
const delayedTokenEndpoint = (server: OidcProvider.OidcServer, millis: number) =>
  Effect.gen(function*() {
    const proxy = yield* FaultProxy.make(new URL(server.tokenEndpoint).origin)
    const configFile = Path.join(configDir, "config.json")
    const config = Fs.readFileSync(configFile, "utf8")
    const slowed = JSON.parse(config)
    slowed.profiles.default.tokenEndpoint = proxy.url(server.tokenEndpoint)
    Fs.writeFileSync(configFile, JSON.stringify(slowed), { mode: 0o600 })
    yield* Effect.addFinalizer(() => Effect.sync(() => Fs.writeFileSync(configFile, config, { mode: 0o600 })))
    yield* proxy.failNext(new URL(server.tokenEndpoint).pathname, 1, { _tag: "Delay", millis })
    return proxy
  })

const deviceLogin = (server: OidcProvider.OidcServer, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const login = Cli.start(["login", ...args], env)
    const [, userCode] = yield* login.waitFor(/one-time code: (\S+)/)
    yield* login.waitFor(/open (http\S+) in a browser/)
    yield* server.approveDevice(userCode!, "alice")
    const result = yield* login.result
    outputs.push(result.stdout, result.stderr)
    return result
  })

layer(OidcProvider.layer(), { excludeTestServices: true })("tokenfx CLI", (it) => {
  it.effect("a missing profile is a configuration error that says how to create it", () =>
    Effect.gen(function*() {
      const result = yield* tokenfx(["token"])
      assert.strictEqual(result.code, 3)
      assert.strictEqual(result.stdout, "")
      assert.include(result.stderr, `No profile "default" is configured`)
      assert.include(result.stderr, "tokenfx login --issuer <URL> --client-id <ID>")
      const status = yield* tokenfx(["status", "--profile", "nope"])
      assert.strictEqual(status.code, 3)
      assert.include(status.stderr, `run "tokenfx login --profile nope --issuer <URL> --client-id <ID>"`)
    }), 60_000)

  it.effect("usage errors exit 2", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* tokenfx(["frobnicate"])).code, 2)
      const both = yield* tokenfx(["login", "--device", "--browser"])
      assert.strictEqual(both.code, 2)
      assert.include(both.stderr, "--device and --browser exclude each other")
    }), 60_000)

  it.effect(
    "a TOKENFX_LOG that is no log level is a configuration error (exit 3) that says which ones are",
    () =>
      Effect.gen(function*() {
        const result = yield* tokenfx(["status"], { TOKENFX_LOG: "loud" })
        assert.strictEqual(result.code, 3, result.stderr)
        assert.strictEqual(result.stdout, "")
        assert.match(result.stderr, /^tokenfx: TOKENFX_LOG is not a log level\.\nNext: set it to [^\n]+\.\n$/)
        // The levels the README names, "warning" among them.
        for (const level of ["debug", "info", "warning", "error"]) {
          const ok = yield* tokenfx(["--version"], { TOKENFX_LOG: level })
          assert.strictEqual(ok.code, 0, `${level}: ${ok.stderr}`)
        }
      }),
    60_000
  )

  it.effect(
    "an unreachable server is a server/network error (exit 5) that says to check the network",
    () =>
      Effect.gen(function*() {
        const result = yield* tokenfx([
          "login",
          "--profile",
          "offline",
          "--issuer",
          "http://127.0.0.1:1",
          "--client-id",
          "x"
        ])
        assert.strictEqual(result.code, 5)
        assert.include(result.stderr, "Cannot read the metadata of http://127.0.0.1:1")
        assert.include(result.stderr, "Next: check the issuer URL")
        assert.isFalse(Fs.existsSync(Path.join(configDir, "config.json")))
      }),
    60_000
  )

  it.effect(
    "login runs the device flow, approved through the harness, and stores the token 0600 in 0700",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const result = yield* deviceLogin(server, [
          "--issuer",
          server.issuer,
          "--client-id",
          server.clients.public.clientId,
          "--scope",
          "openid offline_access api:read"
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout, "")
        assert.match(result.stderr, /Waiting for approval/)
        assert.match(result.stderr, /✓ Logged in to http:\/\/127\.0\.0\.1:\d+ as profile "default"/)
        assert.strictEqual(mode(Path.join(configDir, "config.json")), 0o600)
        assert.strictEqual(mode(tokenDir), 0o700)
        const files = tokenFiles()
        assert.strictEqual(files.length, 1)
        assert.strictEqual(mode(Path.join(tokenDir, files[0]!)), 0o600)
        rememberSecrets()
        const stats = yield* server.stats
        assert.strictEqual(stats.tokenRequests["urn:ietf:params:oauth:grant-type:device_code"], 1)
      }),
    60_000
  )

  it.effect("token prints a valid access token and nothing else", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const result = yield* tokenfx(["token"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stderr, "")
      assert.match(result.stdout, /^\S+\n$/)
      assert.strictEqual((yield* resource(server, result.stdout.trim())).status, 200)
    }), 60_000)

  it.effect("token refreshes an expired token first, rotating the refresh token", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const file = tokenFiles()[0]!
      const before = readStored(file).token
      expireStored(file)
      const refreshes = (yield* server.stats).tokenRequests["refresh_token"] ?? 0
      const result = yield* tokenfx(["token"])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.notStrictEqual(result.stdout.trim(), before.accessToken)
      assert.strictEqual((yield* server.stats).tokenRequests["refresh_token"], refreshes + 1)
      const after = readStored(file).token
      assert.notStrictEqual(after.refreshToken, before.refreshToken)
      assert.strictEqual(mode(Path.join(tokenDir, file)), 0o600)
      rememberSecrets()
      assert.strictEqual((yield* resource(server, result.stdout.trim())).status, 200)
    }), 60_000)

  it.effect(
    "five concurrent tokenfx token at expiry make one refresh between them (the store's lease)",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        expireStored(tokenFiles()[0]!)
        const before = yield* server.stats
        const results = yield* Effect.all(Array.from({ length: 5 }, () => tokenfx(["token"])), {
          concurrency: "unbounded"
        })
        for (const result of results) assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(new Set(results.map((result) => result.stdout)).size, 1)
        const after = yield* server.stats
        assert.strictEqual(after.tokenRequests["refresh_token"], (before.tokenRequests["refresh_token"] ?? 0) + 1)
        assert.strictEqual(after.grantErrors["invalid_grant"] ?? 0, before.grantErrors["invalid_grant"] ?? 0)
        rememberSecrets()
      }),
    60_000
  )

  // SIGHUP: the terminal closed (an SSH session dropped) while tokenfx refreshed.
  for (const [signal, code] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
    it.scoped(
      `${signal} during a refresh lets it finish: the rotated token is stored, then the exit is the signal's`,
      () =>
        Effect.gen(function*() {
          const server = yield* OidcProvider.OidcProvider
          // The next request held 1.5 s before the server sees it.
          const proxy = yield* delayedTokenEndpoint(server, 1_500)
          const file = tokenFiles()[0]!
          const before = readStored(file).token
          expireStored(file)
          const stats = yield* server.stats
          const token = Cli.start(["token"], env)
          // The refresh token is on its way (held by the proxy) when the signal comes.
          while ((yield* proxy.stats).faults === 0) yield* Effect.sleep("20 millis")
          token.kill(signal)
          const result = yield* token.result
          outputs.push(result.stdout, result.stderr)
          assert.strictEqual(result.code, code, `${result.signal ?? ""} ${result.stderr}`)
          assert.strictEqual(result.stdout, "")
          const after = readStored(file).token
          assert.notStrictEqual(after.refreshToken, before.refreshToken, "the refresh under way was cut off")
          const now = yield* server.stats
          assert.strictEqual(now.tokenRequests["refresh_token"], (stats.tokenRequests["refresh_token"] ?? 0) + 1)
          assert.strictEqual(now.grantErrors["invalid_grant"] ?? 0, stats.grantErrors["invalid_grant"] ?? 0)
          rememberSecrets()
          // The grant lives: the next command uses the stored token.
          const next = yield* tokenfx(["token"])
          assert.strictEqual(next.code, 0, next.stderr)
          assert.strictEqual((yield* resource(server, next.stdout.trim())).status, 200)
        }),
      60_000
    )
  }

  it.scoped("a second signal ends the process at once, whatever is under way", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      // Held for a minute: the first signal's wait would last the manager's whole grace.
      const proxy = yield* delayedTokenEndpoint(server, 60_000)
      expireStored(tokenFiles()[0]!)
      const token = Cli.start(["token"], env)
      while ((yield* proxy.stats).faults === 0) yield* Effect.sleep("20 millis")
      token.kill("SIGINT")
      // Two signals sent together may arrive as one.
      yield* Effect.sleep("200 millis")
      token.kill("SIGINT")
      const result = yield* token.result
      outputs.push(result.stdout, result.stderr)
      assert.strictEqual(result.code, 130, `${result.signal ?? ""} ${result.stderr}`)
      // Waited out, the grace ends with an error log saying what was given up.
      assert.notInclude(result.stderr, "closed before", "the second signal was not obeyed at once")
    }), 60_000)
  it.effect(
    "exec hands the token to a command in an environment variable and passes its exit code on",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const script = `fetch(${JSON.stringify(server.resourceUrl)}, { headers: { authorization: "Bearer " + ` +
          `process.env.MY_TOKEN } }).then((r) => r.json()).then((b) => console.log("sub=" + b.sub))`
        const result = yield* tokenfx(["exec", "--env", "MY_TOKEN", "--", process.execPath, "-e", script])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout, "sub=alice\n")
        const failing = yield* tokenfx(["exec", "--", process.execPath, "-e", "process.exit(7)"])
        assert.strictEqual(failing.code, 7)
        const missing = yield* tokenfx(["exec", "--", "tokenfx-no-such-command"])
        assert.strictEqual(missing.code, 2)
        assert.include(missing.stderr, "check the command's name")
      }),
    60_000
  )

  it.effect(
    "exec without a terminal passes SIGINT on to its command, which decides what it means; its exit code is passed on",
    () =>
      Effect.gen(function*() {
        const script = `process.on("SIGINT", () => { console.error("command: SIGINT"); process.exit(7) }); ` +
          `console.error("command: ready"); setInterval(() => {}, 1000)`
        const exec = Cli.start(["exec", "--", process.execPath, "-e", script], env)
        yield* exec.waitFor(/command: ready/)
        exec.kill("SIGINT")
        const result = yield* exec.result
        outputs.push(result.stdout, result.stderr)
        assert.strictEqual(result.code, 7, `${result.signal ?? ""} ${result.stderr}`)
        assert.include(result.stderr, "command: SIGINT")
      }),
    60_000
  )

  // In a terminal, the command is the terminal's as much as tokenfx's: it once ran in a session of its
  // own, with no controlling terminal, so whatever opens /dev/tty (ssh and sudo asking for a password,
  // a pager) failed, and Ctrl-C reached it only as tokenfx passed it on.
  const inTerminal = [
    { what: "Ctrl-C at the terminal", signal: "SIGINT", code: 7, send: (t: Cli.InTerminal) => t.type("\x03") },
    { what: "SIGTERM to tokenfx alone", signal: "SIGTERM", code: 3, send: (t: Cli.InTerminal) => t.kill("SIGTERM") }
  ] as const
  for (const { code, send, signal, what } of inTerminal) {
    it.effect(
      `exec in a terminal: the command shares it (it can open /dev/tty), and ${what} reaches it once`,
      () =>
        Effect.gen(function*() {
          const opensTerminal = `const fs = require("node:fs"); fs.closeSync(fs.openSync("/dev/tty", "r")); `
          const script = opensTerminal + counting(signal, code, "log")
          const terminal = Cli.startInTerminal(["exec", "--", process.execPath, "-e", script], env)
          yield* terminal.waitFor(/command: ready/)
          send(terminal)
          const result = yield* terminal.result
          outputs.push(result.output)
          assert.strictEqual(result.code, code, result.output)
          assert.include(result.output, `command: ${signal} x1`)
        }),
      60_000
    )
  }

  // A supervisor stops tokenfx alone (docker stop signals PID 1; a closed SSH session, SIGHUP): the
  // command once got SIGTERM from tokenfx's end and its exit code was lost for 143, or, on SIGHUP,
  // tokenfx died and left it running.
  for (const [signal, code] of [["SIGTERM", 3], ["SIGHUP", 4]] as const) {
    it.effect(
      `exec without a terminal: ${signal} to tokenfx reaches the command once, and its exit code is passed on`,
      () =>
        Effect.gen(function*() {
          const script = counting(signal, code, "error")
          const exec = Cli.start(["exec", "--", process.execPath, "-e", script], env)
          yield* exec.waitFor(/command: ready/)
          exec.kill(signal)
          const result = yield* exec.result
          outputs.push(result.stdout, result.stderr)
          assert.strictEqual(result.code, code, `${result.signal ?? ""} ${result.stderr}`)
          assert.include(result.stderr, `command: ${signal} x1`)
        }),
      60_000
    )
  }

  it.effect(
    "exec: a command ended by a signal ends tokenfx with the shell's code for it (128 + n)",
    () =>
      Effect.gen(function*() {
        const result = yield* tokenfx(["exec", "--", process.execPath, "-e", "process.kill(process.pid, 'SIGKILL')"])
        assert.strictEqual(result.code, 137, `${result.signal ?? ""} ${result.stderr}`)
      }),
    60_000
  )

  it.effect("request sends the token, and answers a 401 with one refresh and one retry", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const ok = yield* tokenfx(["request", server.resourceUrl])
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.strictEqual(JSON.parse(ok.stdout).sub, "alice")
      // The server forgets the access token, the refresh token still works.
      const current = (yield* tokenfx(["token"])).stdout.trim()
      yield* server.invalidateAccessTokens("alice")
      assert.strictEqual((yield* resource(server, current)).status, 401)
      const before = yield* server.stats
      const retried = yield* tokenfx(["request", server.resourceUrl])
      assert.strictEqual(retried.code, 0, retried.stderr)
      assert.strictEqual(JSON.parse(retried.stdout).sub, "alice")
      const after = yield* server.stats
      assert.strictEqual(after.tokenRequests["refresh_token"], (before.tokenRequests["refresh_token"] ?? 0) + 1)
      assert.strictEqual(after.resourceRequests, before.resourceRequests + 2)
      rememberSecrets()
      const scope = yield* tokenfx(["request", `${server.resourceUrl}?scope=api:write`])
      assert.strictEqual(scope.code, 3)
      assert.include(scope.stderr, "--scope")
    }), 60_000)

  it.effect("status shows expiry, scopes and the store, never a token; --json likewise", () =>
    Effect.gen(function*() {
      const text = yield* tokenfx(["status"])
      assert.strictEqual(text.code, 0, text.stderr)
      assert.match(text.stdout, /default \(default\)/)
      assert.match(
        text.stdout,
        /^PROFILE +STATE +ACCESS TOKEN +REFRESH TOKEN\ndefault \* +(fresh|refresh_window) +in \d+/
      )
      assert.match(text.stdout, /access token: {2}expires in \d+s/)
      assert.match(text.stdout, /scopes: {8}openid offline_access api:read/)
      assert.include(text.stdout, `tokens: ${tokenDir} (files 0600 in a 0700 directory, not encrypted`)
      const json = yield* tokenfx(["status", "--json"])
      assert.strictEqual(json.code, 0, json.stderr)
      const report = JSON.parse(json.stdout)
      assert.strictEqual(report.tokenStore, tokenDir)
      assert.strictEqual(report.profiles[0].name, "default")
      assert.strictEqual(report.profiles[0].loggedIn, true)
      assert.strictEqual(report.profiles[0].hasRefreshToken, true)
      assert.include(["fresh", "refresh_window"], report.profiles[0].state)
      assert.isAbove(report.profiles[0].version, 0)
      assert.isAbove(report.profiles[0].expiresInSeconds, 0)
      assert.deepStrictEqual(report.profiles[0].scopes, ["openid", "offline_access", "api:read"])
    }), 60_000)

  it.effect(
    "logout revokes at the server and removes the local token; token then says to log in",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const before = yield* server.stats
        const refreshToken = readStored(tokenFiles()[0]!).token.refreshToken as string
        const result = yield* tokenfx(["logout"])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.include(result.stderr, "the grant was revoked at")
        assert.strictEqual((yield* server.stats).revocationRequests, before.revocationRequests + 1)
        assert.deepStrictEqual(storedTokens(), [])
        // The server no longer honours the refresh token.
        const reuse = yield* Effect.promise(() =>
          fetch(server.tokenEndpoint, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "refresh_token",
              refresh_token: refreshToken,
              client_id: server.clients.public.clientId
            })
          }).then((r) => r.json())
        )
        assert.strictEqual(reuse.error, "invalid_grant")
        const after = yield* tokenfx(["token"])
        assert.strictEqual(after.code, 4)
        assert.strictEqual(after.stdout, "")
        assert.include(after.stderr, `run "tokenfx login"`)
        const status = yield* tokenfx(["status"])
        assert.strictEqual(status.code, 4)
        assert.include(status.stdout, "logged in:     no")
        assert.include(status.stdout, "state:         missing (not logged in)")
      }),
    60_000
  )

  it.effect(
    "a grant revoked at the server turns into reconnect-required (exit 4) with the next step",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const login = yield* deviceLogin(server, [])
        assert.strictEqual(login.code, 0, login.stderr)
        rememberSecrets()
        yield* server.revokeGrants("alice")
        const result = yield* tokenfx(["request", server.resourceUrl])
        assert.strictEqual(result.code, 4, result.stderr)
        assert.strictEqual(result.stdout, "")
        assert.include(result.stderr, `Profile "default" must log in again`)
        assert.include(result.stderr, `Next: run "tokenfx login"`)
        // The dead grant is gone from the store, so the next command says the same without a server call.
        assert.deepStrictEqual(storedTokens(), [])
        const token = yield* tokenfx(["token"])
        assert.strictEqual(token.code, 4)
      }),
    60_000
  )

  it.effect("a corrupted token file is kept aside and reported as reconnect-required", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const login = yield* deviceLogin(server, [])
      assert.strictEqual(login.code, 0, login.stderr)
      rememberSecrets()
      const file = storedTokens()[0]!
      Fs.writeFileSync(Path.join(tokenDir, file), "{\"format\":1,\"key\":\"def", { mode: 0o600 })
      const result = yield* tokenfx(["token"])
      assert.strictEqual(result.code, 4)
      assert.strictEqual(result.stdout, "")
      assert.include(result.stderr, "is unreadable: the file is not valid JSON")
      assert.include(result.stderr, "kept aside as")
      assert.include(result.stderr, `run "tokenfx login" to get a new one`)
      assert.isTrue(Fs.readdirSync(tokenDir).some((name) => name.includes(".corrupt-")))
    }), 60_000)

  it.effect(
    "login --browser: code + PKCE through a loopback redirect listener, the URL printed",
    () =>
      Effect.gen(function*() {
        const server = yield* OidcProvider.OidcProvider
        const login = Cli.start([
          "login",
          "--profile",
          "desktop",
          "--browser",
          "--issuer",
          server.issuer,
          "--client-id",
          server.clients.native.clientId,
          "--scope",
          "openid offline_access api:read"
        ], env)
        const [, url] = yield* login.waitFor(/log in:\s+(http\S+)/)
        const request = new URL(url!)
        assert.strictEqual(request.searchParams.get("code_challenge_method"), "S256")
        const redirect = new URL(request.searchParams.get("redirect_uri")!)
        assert.strictEqual(redirect.hostname, "127.0.0.1")
        assert.notStrictEqual(redirect.port, "")
        // A redirect that is not this login's (another local process guessing the port) is refused.
        const stray = new URL(redirect)
        stray.search = "code=forged&state=forged"
        assert.strictEqual((yield* Effect.promise(() => fetch(stray))).status, 400)
        const callback = yield* server.authorize(url!, "bob")
        redirect.search = new URLSearchParams({ code: callback.code, state: callback.state!, iss: callback.iss! })
          .toString()
        const page = yield* Effect.promise(() => fetch(redirect).then((r) => r.text()))
        assert.include(page, "Login complete")
        const result = yield* login.result
        outputs.push(result.stdout, result.stderr)
        assert.strictEqual(result.code, 0, result.stderr)
        const token = yield* tokenfx(["token", "--profile", "desktop"])
        assert.strictEqual(token.code, 0, token.stderr)
        const answer = yield* resource(server, token.stdout.trim())
        assert.strictEqual((yield* Effect.promise(() => answer.json())).sub, "bob")
        rememberSecrets()
      }),
    60_000
  )

  it.effect("an encryption key keeps the token file unreadable without it", () =>
    Effect.gen(function*() {
      const server = yield* OidcProvider.OidcProvider
      const key = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64")
      const home = Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-cli-enc-"))
      const login = Cli.start(
        ["login", "--issuer", server.issuer, "--client-id", server.clients.public.clientId],
        { XDG_CONFIG_HOME: home, TOKENFX_ENCRYPTION_KEY: key }
      )
      const [, userCode] = yield* login.waitFor(/one-time code: (\S+)/)
      yield* server.approveDevice(userCode!)
      assert.strictEqual((yield* login.result).code, 0)
      const token = yield* Cli.run(["token"], { XDG_CONFIG_HOME: home, TOKENFX_ENCRYPTION_KEY: key })
      assert.strictEqual(token.code, 0, token.stderr)
      const dir = Path.join(home, "tokenfx", "tokens")
      const content = Fs.readFileSync(Path.join(dir, tokenFiles(dir)[0]!), "utf8")
      assert.notInclude(content, token.stdout.trim())
      const status = yield* Cli.run(["status"], { XDG_CONFIG_HOME: home, TOKENFX_ENCRYPTION_KEY: key })
      assert.include(status.stdout, "encrypted with TOKENFX_ENCRYPTION_KEY")
      // Without --scope, what a command-line session needs: openid and a refresh token.
      assert.match(status.stdout, /scopes: +openid/)
      assert.include(status.stdout, "refresh token: yes")
      Fs.rmSync(home, { recursive: true, force: true })
    }), 60_000)

  it.effect("canary: no command but token ever printed a token", () =>
    Effect.sync(() => {
      assert.isAbove(secrets.size, 5)
      assert.isAbove(outputs.length, 20)
      for (const secret of secrets) {
        for (const output of outputs) assert.notInclude(output, secret)
      }
    }))
})
