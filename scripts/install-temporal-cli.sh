#!/usr/bin/env bash
# Builds the Temporal CLI (dev server + embedded Web UI) from the Go module proxy into a cache directory.
# Idempotent: when the binary is already there it only prints its path. Prints the binary's path on stdout;
# progress goes to stderr.
set -euo pipefail

version="${TEMPORAL_CLI_VERSION:-v1.5.1}"
cache_dir="${HOOKFLOW_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookflow}"
bin_dir="$cache_dir/temporal-cli-$version"
bin="$bin_dir/temporal"

if [ -x "$bin" ]; then
  echo "$bin"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
install-temporal-cli: Go is not installed, so the Temporal CLI cannot be built here.
Either install Go (https://go.dev/dl/) and run this script again, or install the Temporal CLI another way
(https://docs.temporal.io/cli#install, e.g. 'brew install temporal') and set TEMPORAL_CLI_PATH to the binary.
MSG
  exit 1
fi

mkdir -p "$bin_dir"
echo "install-temporal-cli: building temporal $version with $(go version | cut -d' ' -f3) (first build takes a few minutes; Go caches it)..." >&2
started=$(date +%s)
# Build into a temporary directory first so an interrupted build never leaves a half-written binary behind.
tmp_bin_dir=$(mktemp -d "$cache_dir/.build-XXXXXX")
trap 'rm -rf "$tmp_bin_dir"' EXIT
GOBIN="$tmp_bin_dir" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2
mv "$tmp_bin_dir/temporal" "$bin"
echo "install-temporal-cli: built in $(( $(date +%s) - started ))s" >&2
echo "$bin"
