/**
 * Bundles a TypeScript entry point (the real sources it imports included) into one ES module with
 * esbuild, the transpiler tsx itself uses, for child processes that must start fast: through tsx a
 * child transforms and loads Effect module by module (about 2 s and 3 s of CPU on a 2-core machine),
 * where the bundle starts in a tenth of that.
 */
import { createRequire } from "node:module"
import * as Path from "node:path"

interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<unknown>
}

interface Resolved {
  readonly path: string
  readonly external: true
}

interface PluginBuild {
  readonly onResolve: (
    options: { readonly filter: RegExp },
    callback: (args: { readonly path: string; readonly resolveDir: string }) => Resolved
  ) => void
}

const require = createRequire(import.meta.url)

// esbuild comes with tsx (a root devDependency): resolve it from there.
const esbuild = (): Esbuild => createRequire(require.resolve("tsx"))("esbuild") as Esbuild

/**
 * Native addons (better-sqlite3) cannot be bundled: they stay imports, by absolute path, resolved from
 * the importing module as Node would, so that a bundle written outside the workspace still finds them
 * (and `scripts/node-line.sh`, which swaps the addon in place, still gives each Node line its own).
 */
const nativeAddons = (names: ReadonlyArray<string>) => ({
  name: "native-addons",
  setup(build: PluginBuild) {
    const filter = new RegExp(`^(${names.join("|")})$`)
    build.onResolve({ filter }, (args) => ({
      path: createRequire(Path.join(args.resolveDir, "noop.js")).resolve(args.path),
      external: true
    }))
  }
})

export const bundle = async (
  entry: string,
  outDirectory: string,
  options?: { readonly native?: ReadonlyArray<string> }
): Promise<string> => {
  const outfile = Path.join(outDirectory, `${Path.basename(entry, ".ts")}.bundle.mjs`)
  await esbuild().build({
    entryPoints: [entry],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile,
    logLevel: "error",
    plugins: options?.native === undefined ? [] : [nativeAddons(options.native)],
    // Bundled CommonJS dependencies may call `require`.
    banner: {
      js:
        "import { createRequire as __tokenfxCreateRequire } from 'node:module'; const require = __tokenfxCreateRequire(import.meta.url);"
    }
  })
  return outfile
}
