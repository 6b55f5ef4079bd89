/**
 * Bundles a TypeScript entry point (the real sources it imports included) into one ES module with
 * esbuild, the transpiler tsx itself uses, for child processes that must start fast.
 */
import { createRequire } from "node:module"
import * as Path from "node:path"

interface Resolved {
  readonly path: string
  readonly errors: ReadonlyArray<unknown>
}

interface ResolveArgs {
  readonly path?: string
  readonly resolveDir: string
  readonly kind: string
  readonly pluginData?: unknown
}

interface PluginBuild {
  readonly onResolve: (
    options: { readonly filter: RegExp },
    callback: (args: ResolveArgs) => Promise<unknown>
  ) => void
  readonly resolve: (path: string, options: ResolveArgs) => Promise<Resolved>
}

interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<unknown>
}

// Native addons cannot be bundled: they stay imports, of the file the workspace resolves them to (the
// bundle lives outside node_modules), or of their name when not installed (pg's optional pg-native).
const nativeAddons = {
  name: "native-addons",
  setup: (build: PluginBuild) =>
    build.onResolve({ filter: /^(better-sqlite3|pg-native)$/ }, async (args) => {
      // The inner resolve comes back through this hook: let esbuild's own resolver answer it.
      if (args.pluginData === "native-addons") return undefined
      const resolved = await build.resolve(args.path!, {
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: "native-addons"
      })
      return { path: resolved.errors.length === 0 ? resolved.path : args.path, external: true }
    })
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
    plugins: [nativeAddons],
    // Bundled CommonJS dependencies may call `require`.
    banner: {
      js:
        "import { createRequire as __tokenfxCreateRequire } from 'node:module'; const require = __tokenfxCreateRequire(import.meta.url);"
    }
  })
  return outfile
}
