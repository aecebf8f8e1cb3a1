#!/usr/bin/env bash
# Build the OpenTelemetry Collector comparison peer for `make bench-compare`
# into $1 (default bin/otelcol-peer), with the Collector's official builder
# and the manifest in ../shared/peers/otelcol-manifest.yaml (core and contrib
# v0.160.0). The generated sources and Go's build cache live under
# $PEERS_CACHE, so a rebuild is a relink. Not part of `make test`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BUILDER=go.opentelemetry.io/collector/cmd/builder@v0.160.0
MANIFEST=${OTELCOL_MANIFEST:-$(dirname "$0")/../../../shared/peers/otelcol-manifest.yaml}
OUT=$(realpath -m "${1:-bin/otelcol-peer}")
[ -f "$MANIFEST" ] || die "no manifest at $MANIFEST (../shared/peers/otelcol-manifest.yaml beside the clone)"

dir=$PEERS_CACHE/otelcol-v0.160.0
mkdir -p "$dir"
# The builder writes its sources and binary to dist.output_path; point it at
# the cache folder, leaving the shared manifest untouched.
sed "s|^\([[:space:]]*output_path:\).*|\1 $dir/build|" "$MANIFEST" >"$dir/manifest.yaml"
if [ ! -x "$dir/bin/builder" ]; then
	log "installing $BUILDER"
	GOBIN="$dir/bin" CGO_ENABLED=0 "$GO" install "$BUILDER"
fi
log "building the Collector peer in $dir/build (a cold build takes many minutes)"
start=$SECONDS
CGO_ENABLED=0 "$dir/bin/builder" --config "$dir/manifest.yaml" >"$dir/builder.log" 2>&1 || { tail -40 "$dir/builder.log" >&2; die "builder failed (log: $dir/builder.log)"; }
mkdir -p "$(dirname "$OUT")"
cp "$dir/build/otelcol-peer" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "built $OUT in $((SECONDS - start))s"
