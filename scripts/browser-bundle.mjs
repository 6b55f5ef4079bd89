// Bundles @tokenfx/core, @tokenfx/http and the @tokenfx/storage barrel for browsers and edge runtimes
// (esbuild, --platform=browser) and fails on any Node built-in in the bundle: a `node:` import, or a bare
// one such as "fs". Node-only modules (FileTokenStore, SqlTokenStore, @tokenfx/testing/OidcProvider) are
// reached through their own sub-paths and are not in these barrels.
import * as esbuild from "esbuild"
import { builtinModules } from "node:module"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const entries = {
  "@tokenfx/core": "packages/core",
  "@tokenfx/http": "packages/http",
  "@tokenfx/storage": "packages/storage"
}
const builtins = new Set(builtinModules)

let failed = false
for (const [entry, dir] of Object.entries(entries)) {
  const found = []
  const result = await esbuild.build({
    stdin: { contents: `export * from "${entry}"`, resolveDir: path.join(root, dir), loader: "ts" },
    bundle: true,
    platform: "browser",
    format: "esm",
    target: "es2022",
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [{
      name: "no-node-builtins",
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => {
          if (args.path.startsWith("node:") || builtins.has(args.path.split("/")[0])) {
            found.push(`${args.path} (imported by ${path.relative(root, args.importer)})`)
            return { path: args.path, external: true }
          }
          return undefined
        })
      }
    }]
  }).catch((error) => ({ error }))
  if ("error" in result) {
    failed = true
    console.error(`${entry}: the browser bundle fails:\n${result.error.message}`)
    continue
  }
  if (found.length > 0) {
    failed = true
    console.error(`${entry}: Node built-ins in the browser bundle:\n  ${found.join("\n  ")}`)
    continue
  }
  const bytes = result.outputFiles[0].contents.length
  const modules = Object.keys(result.metafile.inputs).length
  console.log(`${entry}: browser bundle ok (${modules} modules, ${Math.round(bytes / 1024)} KiB, no Node built-in)`)
}
process.exit(failed ? 1 : 0)
