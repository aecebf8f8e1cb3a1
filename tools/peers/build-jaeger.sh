#!/usr/bin/env bash
# Build the Jaeger v2 all-in-one binary (github.com/jaegertracing/jaeger
# ./cmd/jaeger) into $1 (default bin/jaeger). See README.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODULE=github.com/jaegertracing/jaeger
VERSION=v1.76.0 # Jaeger v2.13.0; the v1.x tag of the root module carries both
OUT=$(realpath -m "${1:-bin/jaeger}")

src=$(module_dir "$MODULE@$VERSION")
dir=$PEERS_CACHE/jaeger-$VERSION
writable_copy "$src" "$dir"
v=github.com/jaegertracing/jaeger/internal/version
go_build "$dir" ./cmd/jaeger "$OUT" \
	-ldflags "-s -w -X $v.latestVersion=v2.13.0 -X $v.commitSHA=63b27e1810a710ac54dc4522da0538e540bdc545"
