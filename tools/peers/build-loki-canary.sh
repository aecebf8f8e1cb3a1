#!/usr/bin/env bash
# Build loki-canary (github.com/grafana/loki/v3 ./cmd/loki-canary, the same
# module and copy as bin/loki) into $1 (default bin/loki-canary). The tests
# of the loki receiver run it with -push, so that it pushes its lines to
# outpost. Warm (after bin/loki, which compiles most of its packages) it is
# a short build; cold, about as long as bin/loki's.
set -euo pipefail
LOKI_PKG=./cmd/loki-canary exec bash "$(dirname "$0")/build-loki.sh" "${1:-bin/loki-canary}"
