import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { program as auth0 } from "../providers/auth0.js"
import { program as entraId } from "../providers/entra-id.js"
import { program as github } from "../providers/github.js"
import { program as google } from "../providers/google.js"
import { program as keycloak } from "../providers/keycloak.js"
import { program as okta } from "../providers/okta.js"

// Runs an example with no provider variables set (so against its dialect server), Console.log captured.
const capture = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const console = yield* Console.consoleWith(Effect.succeed)
    yield* Effect.withConsole(self, {
      ...console,
      log: (...args) => Effect.sync(() => lines.push(args.map(String).join(" ")))
    })
    return lines
  }).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())), Logger.withMinimumLogLevel(LogLevel.None))

// The in-memory server's tokens are `at_…`, `rt_…` and `code_…` base64url runs: none may be printed.
const secretLike = /(?:at|rt|code)_[A-Za-z0-9_-]{20,}/

const cases = [
  {
    name: "GitHub",
    program: github,
    login: "https://github.test/login/oauth/authorize",
    rotated: true,
    disconnect: "Revoked"
  },
  {
    name: "Google",
    program: google,
    login: "https://google.test/o/oauth2/v2/auth",
    rotated: false,
    disconnect: "Revoked"
  },
  {
    name: "Microsoft Entra ID",
    program: entraId,
    login: "https://login.test/contoso.onmicrosoft.com/oauth2/v2.0/authorize",
    rotated: true,
    disconnect: "Unsupported"
  },
  { name: "Auth0", program: auth0, login: "https://tenant.auth0.test/authorize", rotated: true, disconnect: "Revoked" },
  {
    name: "Okta",
    program: okta,
    login: "https://example.okta.test/oauth2/default/v1/authorize",
    rotated: true,
    disconnect: "Revoked"
  },
  {
    name: "Keycloak",
    program: keycloak,
    login: "https://sso.test/realms/acme/protocol/openid-connect/auth",
    rotated: true,
    disconnect: "Revoked"
  }
] as const

describe("provider examples", () => {
  for (const example of cases) {
    it.effect(`${example.name}: login, refresh, disconnect against its dialect`, () =>
      Effect.gen(function*() {
        const lines = yield* capture(example.program)
        assert.isTrue(lines[0]?.startsWith(`${example.name}: the `), lines[0])
        assert.include(lines, `login at ${example.login}`)
        assert.isTrue(lines.some((line) => line.startsWith("refreshed: access token <redacted>")))
        assert.include(lines, `refresh token rotated: ${example.rotated}`)
        assert.include(lines, `disconnect: ${example.disconnect}`)
        assert.deepStrictEqual(lines.filter((line) => secretLike.test(line)), [])
      }))
  }
})
