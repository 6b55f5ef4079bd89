// Runs in a package directory after `build-utils pack-v3` (the last step of every package's "build"
// script): completes dist/, the directory that is packed and published (`publishConfig.directory`).
// - carries over the fields pack-v3 leaves out: engines, bugs, keywords;
// - spells the CommonJS entry of every export as `require` beside `default`;
// - points `bin` at the built ESM module (dist/esm/*.js) instead of the workspace's src/*.ts;
// - drops the `./.index` entry that the `./*` pattern picks up from prepare-v3's barrel template.
// It never adds "type": dist/dist/esm has its own package.json saying "module", dist/dist/cjs is CommonJS.
import * as fs from "node:fs"

const source = JSON.parse(fs.readFileSync("package.json", "utf8"))
const manifest = JSON.parse(fs.readFileSync("dist/package.json", "utf8"))

for (const key of ["engines", "bugs", "keywords"]) {
  if (source[key] !== undefined) manifest[key] = source[key]
}
manifest.publishConfig = { access: "public", ...manifest.publishConfig }

const exports = {}
for (const [entry, target] of Object.entries(manifest.exports ?? {})) {
  if (entry.startsWith("./.")) continue
  exports[entry] = target !== null && typeof target === "object" && typeof target.default === "string"
    ? { types: target.types, import: target.import, require: target.default, default: target.default }
    : target
}
manifest.exports = exports
for (const entry of Object.keys(manifest.typesVersions?.["*"] ?? {})) {
  if (entry.startsWith(".")) delete manifest.typesVersions["*"][entry]
}
fs.rmSync("dist/.index", { recursive: true, force: true })
// `bin` points at sources in the workspace (run with tsx); published, at the built ESM module.
const built = (file) => file.replace(/^\.\/src\/(.*)\.ts$/, "./dist/esm/$1.js")
if (typeof manifest.bin === "string") manifest.bin = built(manifest.bin)
else if (manifest.bin) manifest.bin = Object.fromEntries(Object.entries(manifest.bin).map(([k, v]) => [k, built(v)]))

fs.writeFileSync("dist/package.json", JSON.stringify(manifest, null, 2) + "\n")
