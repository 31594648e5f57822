#!/usr/bin/env bash
# Builds the native production topology's Temporal binaries from the Go module proxy, once, into a cache directory:
#   temporal-server     go.temporal.io/server/cmd/server       (the same version as the compose file's temporalio/server)
#   temporal-sql-tool   go.temporal.io/server/cmd/tools/sql    (what temporalio/admin-tools runs for the schema setup)
#   temporal-ui-server  github.com/temporalio/ui-server/v2/cmd/server (the compose file's temporalio/ui; Web UI embedded)
# plus the PostgreSQL schema files that ship inside the server module. Idempotent: when everything is there it only
# prints the directory. Prints that directory on stdout; progress goes to stderr.
#
# For a host without containers: run this once (or on a build machine with the same OS/arch and copy the directory),
# then see deploy/native/README.md.
set -euo pipefail

server_version="${TEMPORAL_SERVER_VERSION:-v1.31.0}"
ui_version="${TEMPORAL_UI_VERSION:-v2.49.1}"
cache_dir="${HOOKFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookflow}"
out="$cache_dir/temporal-native-$server_version-ui-$ui_version"

if [ -x "$out/temporal-server" ] && [ -x "$out/temporal-sql-tool" ] && [ -x "$out/temporal-ui-server" ] &&
  [ -d "$out/schema/postgresql/v12" ]; then
  echo "$out"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "deploy/native/build.sh: Go is not installed; install it (https://go.dev/dl/) and run this again." >&2
  exit 1
fi

mkdir -p "$cache_dir"
# Build into a temporary directory and move it into place at the end, so an interrupted build leaves nothing half done.
tmp=$(mktemp -d "$cache_dir/.native-build-XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
started=$(date +%s)
export GOFLAGS="${GOFLAGS:-} -trimpath"

# Both main packages are called `server`: each goes into a directory of its own, then gets its real name.
build() { # <module path> <name>
  echo "deploy/native/build.sh: building $2 ($1) with $(go version | cut -d' ' -f3)..." >&2
  mkdir -p "$tmp/gobin-$2"
  GOBIN="$tmp/gobin-$2" go install "$1" >&2
  mv "$tmp/gobin-$2/"* "$tmp/$2"
}
build "go.temporal.io/server/cmd/server@$server_version" temporal-server
build "go.temporal.io/server/cmd/tools/sql@$server_version" temporal-sql-tool
build "github.com/temporalio/ui-server/v2/cmd/server@$ui_version" temporal-ui-server

module_dir=$(go mod download -json "go.temporal.io/server@$server_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$tmp/schema"
cp -R "$module_dir/schema/postgresql" "$tmp/schema/postgresql"
chmod -R u+w "$tmp/schema" # the module cache is read-only
rm -rf "$tmp"/gobin-*

rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "deploy/native/build.sh: built in $(($(date +%s) - started))s into $out" >&2
echo "$out"
