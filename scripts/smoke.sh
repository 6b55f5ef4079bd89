#!/usr/bin/env bash
# The packed-tarball smoke test: what a user gets from npm, outside the workspace, with plain node.
#
#   scripts/smoke.sh [major]     (default: the machine's node; 22 or 24 through scripts/node-line.sh)
#
# Needs `pnpm build` first. Packs every package under packages/ (`pnpm pack`: dist/, workspace: ranges
# resolved), runs `npm publish --dry-run` on each tarball, installs them with npm into a scratch app in a
# fresh temporary directory together with the Effect 3 line at the lockfile's versions (registry only),
# type-checks scripts/smoke/app.ts with module/moduleResolution node16 (as .mts and .cts) and with bundler,
# strict, noUncheckedIndexedAccess, skipLibCheck false, and runs it with `node` as ESM and as CommonJS.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
major=${1:-}
if [ -n "$major" ] && [ "${TOKENFX_NODE_LINE:-}" != "$major" ]; then
  exec env TOKENFX_NODE_LINE="$major" bash "$root/scripts/node-line.sh" run "$major" bash "$0" "$major"
fi
echo "smoke: node $(node --version), npm $(npm --version)"

if command -v pnpm >/dev/null 2>&1; then PNPM=(pnpm); else PNPM=(npx -y pnpm@10.34.9); fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tokenfx-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tarballs" "$work/app/src"

# 1. Pack every publishable package. With TOKENFX_SMOKE_TARBALLS naming a directory that holds the
# tarballs of an earlier run (CI: Node 20's, for 22 and 24), those are installed instead, and what does
# not depend on the Node line (the tarballs' contents, npm publish --dry-run, the bundler type check) is
# not checked again.
reuse=${TOKENFX_SMOKE_TARBALLS:-}
if [ -n "$reuse" ] && compgen -G "$reuse/*.tgz" >/dev/null; then
  cp "$reuse"/*.tgz "$work/tarballs/"
  echo "smoke: the tarballs of an earlier run, from $reuse: $(cd "$work/tarballs" && echo *.tgz)"
else
  reuse=
  packages=()
  for manifest in "$root"/packages/*/package.json; do
    dir=$(dirname "$manifest")
    if [ "$(node -p "require('$manifest').private === true")" = "true" ]; then continue; fi
    if [ ! -f "$dir/dist/package.json" ]; then
      echo "smoke: $dir/dist is missing: run pnpm build first" >&2
      exit 1
    fi
    packages+=("$(node -p "require('$manifest').name")")
    (cd "$dir" && "${PNPM[@]}" pack --pack-destination "$work/tarballs" >/dev/null)
  done
  echo "smoke: packed ${packages[*]}"
fi

# 2. What npm would publish (once: the same tarballs on every line).
if [ -z "$reuse" ]; then
  for tarball in "$work"/tarballs/*.tgz; do
    listing=$(tar -tzf "$tarball")
    for required in package/package.json package/LICENSE package/README.md; do
      grep -qx "$required" <<<"$listing" || { echo "smoke: $tarball has no $required" >&2; exit 1; }
    done
    if grep -E '^package/(test|build|node_modules)/|\.test\.|tsconfig|vitest' <<<"$listing"; then
      echo "smoke: $tarball ships files a user does not need" >&2
      exit 1
    fi
    (cd "$work" && npm publish --dry-run --ignore-scripts "$tarball" >"$work/publish.log" 2>&1) || {
      cat "$work/publish.log" >&2
      exit 1
    }
    echo "smoke: npm publish --dry-run $(basename "$tarball"): ok"
  done
fi

# 3. The scratch app: the tarballs and the Effect 3 line at the lockfile's versions; better-sqlite3 at the
# version scripts/node-line.sh runs on this line (13 on Node 24, through npm overrides, as the README says).
addon=${TOKENFX_BETTER_SQLITE3:-$(bash "$root/scripts/node-line.sh" native "$(node -p 'process.versions.node.split(".")[0]')")}
export SMOKE_BETTER_SQLITE3=$(node -p "require('$addon/package.json').version")
node - "$root" "$work" <<'NODE'
const fs = require("node:fs")
const path = require("node:path")
const [root, work] = process.argv.slice(2)
const installed = (name) => {
  for (const from of ["packages/storage", "packages/testing", "packages/http", "packages/core", "."]) {
    try {
      const file = require.resolve(`${name}/package.json`, { paths: [path.join(root, from)] })
      return JSON.parse(fs.readFileSync(file, "utf8")).version
    } catch {}
  }
  // Not a direct dependency anywhere: read it from pnpm's virtual store.
  const dirs = fs.readdirSync(path.join(root, "node_modules/.pnpm")).filter((d) => d.startsWith(`${name.replace("/", "+")}@`))
  if (dirs.length !== 1) throw new Error(`cannot tell which ${name} the lockfile installs: ${dirs}`)
  return dirs[0].slice(name.length + 1).split("_")[0]
}
const dependencies = {}
for (const tarball of fs.readdirSync(path.join(work, "tarballs"))) {
  const name = tarball.replace(/^tokenfx-(.*)-\d+\.\d+\.\d+.*\.tgz$/, "@tokenfx/$1")
  dependencies[name] = `file:../tarballs/${tarball}`
}
for (const name of ["effect", "@effect/platform", "@effect/platform-node", "@effect/sql", "@effect/sql-sqlite-node"]) {
  dependencies[name] = installed(name)
}
dependencies["better-sqlite3"] = process.env.SMOKE_BETTER_SQLITE3
const overrides = { "better-sqlite3": process.env.SMOKE_BETTER_SQLITE3 }
// @effect/platform-node-shared's declarations import "ws", which ships no types: a user with
// skipLibCheck false adds @types/ws, as here (and lib DOM, which @effect/platform's declarations use).
const devDependencies = { typescript: installed("typescript"), "@types/node": installed("@types/node"), "@types/ws": "8.18.2" }
fs.writeFileSync(path.join(work, "app/package.json"), JSON.stringify({ name: "tokenfx-smoke-app", private: true, version: "0.0.0", dependencies, devDependencies, overrides }, null, 2))
const strict = { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: false, types: ["node"], lib: ["ES2022", "DOM"], target: "ES2022" }
fs.writeFileSync(path.join(work, "app/tsconfig.node16.json"), JSON.stringify({ compilerOptions: { ...strict, module: "node16", moduleResolution: "node16", outDir: "out", rootDir: "src" }, files: ["src/esm.mts", "src/cjs.cts"] }, null, 2))
fs.writeFileSync(path.join(work, "app/tsconfig.bundler.json"), JSON.stringify({ compilerOptions: { ...strict, module: "esnext", moduleResolution: "bundler", noEmit: true }, files: ["src/bundler.ts"] }, null, 2))
console.log(`smoke: app dependencies ${JSON.stringify({ ...dependencies, ...devDependencies })}`)
NODE
for target in esm.mts cjs.cts bundler.ts; do cp "$root/scripts/smoke/app.ts" "$work/app/src/$target"; done

# Install scripts off: the only one, better-sqlite3's, would build for this node; scripts/node-line.sh
# has that build already (from pnpm install for Node 20, from source for the other lines).
(cd "$work/app" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
if [ -f "$addon/build/Release/better_sqlite3.node" ]; then # 12 is built; 13 ships Node-API prebuilds
  mkdir -p "$work/app/node_modules/better-sqlite3/build/Release"
  cp "$addon/build/Release/better_sqlite3.node" "$work/app/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
fi

# 4. Type-check and compile, run as ESM and as CommonJS.
cd "$work/app"
./node_modules/.bin/tsc -p tsconfig.node16.json
echo "smoke: tsc (node16, .mts and .cts): ok"
if [ -z "$reuse" ]; then
  ./node_modules/.bin/tsc -p tsconfig.bundler.json
  echo "smoke: tsc (bundler): ok"
fi
node out/esm.mjs
node out/cjs.cjs

# 5. Every package's executable runs (the CLI's `tokenfx --version`).
for bin in node_modules/.bin/*; do
  case "$(basename "$bin")" in tsc|tsserver|prebuild-install|rc|semver|detect-libc|node-gyp*|napi-postinstall) continue ;; esac
  target=$(readlink -f "$bin")
  case "$target" in */node_modules/@tokenfx/*) ;; *) continue ;; esac
  "$bin" --version >/dev/null || { echo "smoke: $(basename "$bin") --version failed" >&2; exit 1; }
  echo "smoke: $(basename "$bin") --version: $("$bin" --version | head -1)"
done

# 6. Internals stay closed, to import and to require.
for name in "${packages[@]}"; do
  internal=$(ls "node_modules/$name/dist/esm/internal" 2>/dev/null | grep -m1 '\.js$' || true)
  [ -n "$internal" ] || continue
  spec="$name/internal/${internal%.js}"
  node -e "try { require('$spec'); process.exit(1) } catch (e) { process.exit(e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? 0 : 1) }" ||
    { echo "smoke: require('$spec') is not closed" >&2; exit 1; }
  node --input-type=module -e "try { await import('$spec'); process.exit(1) } catch (e) { process.exit(e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? 0 : 1) }" ||
    { echo "smoke: import('$spec') is not closed" >&2; exit 1; }
done
echo "smoke: internal modules closed"
# Kept for the next lines, once they have passed here.
if [ -z "$reuse" ] && [ -n "${TOKENFX_SMOKE_TARBALLS:-}" ]; then
  mkdir -p "$TOKENFX_SMOKE_TARBALLS"
  cp "$work"/tarballs/*.tgz "$TOKENFX_SMOKE_TARBALLS/"
fi
echo "smoke: node $(node --version): passed"
