// Fails when any package's sources import each other in a cycle, type imports counted: shared
// vocabulary lives in leaf modules, never borrowed from the module above. The one cycle allowed is
// Effect's own convention, a public module `Foo.ts` and its implementation `internal/foo.ts`.
import madge from "madge"
import { readdirSync } from "node:fs"
import { basename, dirname } from "node:path"

const dirs = readdirSync("packages", { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => `packages/${entry.name}/src`)
const result = await madge(dirs, {
  fileExtensions: ["ts"],
  detectiveOptions: { ts: { skipTypeImports: false }, tsx: { skipTypeImports: false } },
  tsConfig: { compilerOptions: { moduleResolution: "nodenext", allowJs: false } }
})

// `.../src/Foo.ts` and `.../src/internal/foo.ts`, in either order.
const isModuleWithItsInternal = (cycle) => {
  if (cycle.length !== 2) return false
  const [a, b] = cycle
  const [pub, internal] = dirname(b).endsWith("/internal") ? [a, b] : [b, a]
  const name = basename(pub, ".ts")
  return dirname(internal) === `${dirname(pub)}/internal` &&
    basename(internal, ".ts") === name.charAt(0).toLowerCase() + name.slice(1)
}

const cycles = result.circular().filter((cycle) => !isModuleWithItsInternal(cycle))
if (cycles.length > 0) {
  console.error("Circular imports:")
  for (const cycle of cycles) console.error("  " + cycle.join(" -> "))
  process.exit(1)
}
console.log(`no circular imports in ${Object.keys(result.obj()).length} modules`)
