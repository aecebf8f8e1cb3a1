#!/usr/bin/env bash
# Build the Loki single binary (github.com/grafana/loki/v3 ./cmd/loki) into $1
# (default bin/loki). See README.md. LOKI_PKG builds another command of the
# same module instead (build-loki-canary.sh: ./cmd/loki-canary).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODULE=github.com/grafana/loki/v3
VERSION=v3.7.8
# Loki's go.mod has `replace github.com/grafana/loki/pkg/push => ./pkg/push`,
# but the module zip of github.com/grafana/loki/v3 leaves out pkg/push (it is
# a module of its own). Fill it in from the proxy at the version Loki's go.mod
# requires; keep the two in step when VERSION changes.
PUSH_MODULE=github.com/grafana/loki/pkg/push
PUSH_VERSION=v0.0.0-20250630054201-94c0ba7b0952
OUT=$(realpath -m "${1:-bin/loki}")

src=$(module_dir "$MODULE@$VERSION")
want=$(sed -n "s|^[[:space:]]*$PUSH_MODULE \(v[^ ]*\).*|\1|p" "$src/go.mod" | head -n1)
[ "$want" = "$PUSH_VERSION" ] || die "Loki $VERSION requires $PUSH_MODULE $want, this script pins $PUSH_VERSION"
dir=$PEERS_CACHE/loki-$VERSION
if [ ! -f "$dir/.outpost-copied" ]; then
	push=$(module_dir "$PUSH_MODULE@$PUSH_VERSION")
	writable_copy "$src" "$dir.stage"
	rm -f "$dir.stage/.outpost-copied"
	if [ ! -f "$dir.stage/pkg/push/go.mod" ]; then
		mkdir -p "$dir.stage/pkg/push"
		cp -R "$push/." "$dir.stage/pkg/push/"
		chmod -R u+w "$dir.stage/pkg/push"
	fi
	rm -rf "$dir"
	mv "$dir.stage" "$dir"
	touch "$dir/.outpost-copied"
fi
flags=()
if [ "${LOKI_PKG:-}" = ./cmd/loki-canary ]; then
	# loki-canary serves its metrics on ":<port>", every interface; outpost's
	# tests listen on loopback only. Build it with that one line bound to
	# 127.0.0.1, through an -overlay (the module copy is left as it is).
	main=$dir/cmd/loki-canary/main.go
	from='Addr:              ":" + strconv.Itoa(*port),'
	grep -qF "$from" "$main" || die "$main no longer has the line to bind to 127.0.0.1: $from"
	ov=$(mktemp -d)
	trap 'rm -rf "$ov"' EXIT
	sed 's|Addr:              ":" + strconv.Itoa(\*port),|Addr: "127.0.0.1:" + strconv.Itoa(*port),|' "$main" >"$ov/main.go"
	printf '{"Replace":{"%s":"%s"}}\n' "$main" "$ov/main.go" >"$ov/overlay.json"
	flags=(-overlay "$ov/overlay.json")
fi
v=github.com/grafana/loki/v3/pkg/util/build
go_build "$dir" "${LOKI_PKG:-./cmd/loki}" "$OUT" -tags netgo "${flags[@]}" \
	-ldflags "-s -w -X $v.Version=3.7.8 -X $v.Branch=v3.7.8 -X $v.Revision=09e6ce2ff1bdc19763a10265b870c86f51c98655"
