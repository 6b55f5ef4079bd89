// Fails when any package's sources import each other in a cycle.
import madge from "madge"

const dirs = ["packages/core/src", "packages/http/src", "packages/storage/src", "packages/testing/src", "packages/cli/src"]
const result = await madge(dirs, {
  fileExtensions: ["ts"],
  detectiveOptions: { ts: { skipTypeImports: true } },
  tsConfig: { compilerOptions: { moduleResolution: "nodenext", allowJs: false } }
})
const cycles = result.circular()
if (cycles.length > 0) {
  console.error("Circular imports:")
  for (const cycle of cycles) console.error("  " + cycle.join(" -> "))
  process.exit(1)
}
console.log(`no circular imports in ${Object.keys(result.obj()).length} modules`)
