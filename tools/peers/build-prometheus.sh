#!/usr/bin/env bash
# Build the Prometheus server (github.com/prometheus/prometheus ./cmd/prometheus)
# into $1 (default bin/prometheus). See README.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODULE=github.com/prometheus/prometheus
VERSION=v0.310.0 # Prometheus 3.10.0 (Go module tags are v0.<major><minor>.<patch>)
OUT=$(realpath -m "${1:-bin/prometheus}")

src=$(module_dir "$MODULE@$VERSION")
dir=$PEERS_CACHE/prometheus-$VERSION
writable_copy "$src" "$dir"
# remove_all_sd leaves out the cloud service-discovery plugins (AWS, Azure,
# GCE, Kubernetes, ...): tests use static targets or remote write only, and
# the build is much smaller without them. No builtinassets tag: the web UI is
# not embedded, the HTTP API (and /api/v1/write) is unaffected.
go_build "$dir" ./cmd/prometheus "$OUT" -tags netgo,remove_all_sd \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=3.10.0 -X github.com/prometheus/common/version.Branch=v0.310.0 -X github.com/prometheus/common/version.Revision=54e010926b0a270cadb22be1113ad45fe9bcb90a"
