/**
 * Bundles a TypeScript entry point (the real sources it imports included) into one ES module with
 * esbuild, the transpiler tsx itself uses, for child processes that must start fast.
 */
import { createRequire } from "node:module"
import * as Path from "node:path"

interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<unknown>
}

// esbuild comes with tsx (a root devDependency): resolve it from there.
const esbuild = (): Esbuild => {
  const require = createRequire(import.meta.url)
  return createRequire(require.resolve("tsx"))("esbuild") as Esbuild
}

export const bundle = async (entry: string, outDirectory: string): Promise<string> => {
  const outfile = Path.join(outDirectory, `${Path.basename(entry, ".ts")}.bundle.mjs`)
  await esbuild().build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "error",
    // Bundled CommonJS dependencies may call `require`.
    banner: {
      js:
        "import { createRequire as __tokenfxCreateRequire } from 'node:module'; const require = __tokenfxCreateRequire(import.meta.url);"
    }
  })
  return outfile
}
