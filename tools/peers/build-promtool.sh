#!/usr/bin/env bash
# Build promtool (github.com/prometheus/prometheus ./cmd/promtool) into $1
# (default bin/promtool), from the same Prometheus module and writable copy
# as build-prometheus.sh, for `promtool check rules` and `promtool test
# rules` on dashboards/alerts/. See README.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODULE=github.com/prometheus/prometheus
VERSION=v0.310.0 # Prometheus 3.10.0, as build-prometheus.sh
OUT=$(realpath -m "${1:-bin/promtool}")

src=$(module_dir "$MODULE@$VERSION")
dir=$PEERS_CACHE/prometheus-$VERSION
writable_copy "$src" "$dir"
# The same tags as the server: rule checks and rule unit tests need no
# service discovery.
go_build "$dir" ./cmd/promtool "$OUT" -tags netgo,remove_all_sd \
	-ldflags "-s -w -X github.com/prometheus/common/version.Version=3.10.0 -X github.com/prometheus/common/version.Branch=v0.310.0 -X github.com/prometheus/common/version.Revision=54e010926b0a270cadb22be1113ad45fe9bcb90a"
