import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { readFileSync } from "node:fs"
import * as path from "node:path"
import { main } from "../src/quick-start.js"

const root = path.join(__dirname, "..", "..")

// The README's "A taste" is quick-start.ts's first section, without `export` and the runner's imports.
const tasteOfSource = (source: string): string =>
  source
    .slice(source.indexOf("import { NodeHttpClient }"), source.indexOf("// --- Run it"))
    .replace("import * as OidcProvider from \"@tokenfx/testing/OidcProvider\"\n", "")
    .replace(/import \{ Config, [^}]*\} from "effect"/, "import { Config, Effect, Layer } from \"effect\"")
    .replace(/\/\/ --- A taste -+\n\n/, "")
    .replaceAll("export const ", "const ")
    .trim()

const tasteOfReadme = (readme: string): string => {
  const section = readme.slice(readme.indexOf("## A taste"))
  const start = section.indexOf("```ts\n") + "```ts\n".length
  return section.slice(start, section.indexOf("\n```", start)).trim()
}

describe("quick start", () => {
  it("the README's taste is quick-start.ts, line for line", () => {
    const source = readFileSync(path.join(root, "examples/src/quick-start.ts"), "utf8")
    const readme = readFileSync(path.join(root, "README.md"), "utf8")
    assert.strictEqual(tasteOfReadme(readme), tasteOfSource(source))
  })

  it.live("logs alice in and calls the API as alice", () =>
    Effect.gen(function*() {
      const answer = yield* main.pipe(Logger.withMinimumLogLevel(LogLevel.None))
      assert.deepInclude(answer as object, { sub: "alice", client_id: "tokenfx-basic" })
    }), 60_000)
})
