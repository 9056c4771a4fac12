#!/usr/bin/env bash
# Builds the article's client-go program (bench/clientgo/main.go) into target/bench/clientgo with
# this machine's Go: MixedFleetIT runs it beside this controller on one Lease (`make test` calls
# this script before Maven). bench/clientgo/go.mod pins client-go; its modules come from the Go
# module proxy on the first build (no vendoring), later builds are incremental (a few seconds).
#
# A failed build leaves no binary behind, so MixedFleetIT never runs a stale one: it fails and
# says how to build it. GO overrides the Go command (default go).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench/clientgo
go_cmd=${GO:-go}
rm -f "$out"
if ! command -v "$go_cmd" >/dev/null 2>&1; then
  echo "clientgo: Go is not installed ('$go_cmd' not found): the article's client-go program" \
    "(bench/clientgo) cannot be built, so MixedFleetIT will fail. Install Go (the version in" \
    "bench/clientgo/go.mod or later; the Go module proxy must be reachable), then run" \
    "scripts/build-clientgo.sh" >&2
  exit 1
fi
mkdir -p target/bench
partial="$out.partial.$$"
trap 'rm -f "$partial"' EXIT
echo "clientgo: building bench/clientgo -> $out ($("$go_cmd" env GOVERSION))"
(cd bench/clientgo && "$go_cmd" build -trimpath -buildvcs=false -o "../../$partial" .)
mv "$partial" "$out"
trap - EXIT
echo "clientgo: ready in $out"
