# Shared helpers for tools/peers/build-*.sh. Sourced, not executed.
#
# The peers are real upstream servers built from their Go modules. `go install
# mod@version` refuses modules whose go.mod has replace directives, so each
# build script takes the module's source from the module cache (downloaded
# through the Go module proxy), copies it to a writable directory under
# $PEERS_CACHE and runs `go build` inside that copy, where its own go.mod,
# go.sum and replace directives apply. The copy and Go's build cache survive
# `make clean`, so a rebuild after it is a relink, not a cold build.

set -euo pipefail

GO=${GO:-go}
PEERS_CACHE=${PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/outpost-peers}
# The peers pin their own Go versions; never download a toolchain behind the
# caller's back, fail instead with Go's own message.
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
# A peer's copy is not a git checkout; don't let Go stamp VCS data from an
# enclosing repository either.
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
# Some module zips ship a go.work naming directories the zip leaves out
# (Prometheus does); build the module on its own go.mod.
export GOWORK=off

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# module_dir MODULE@VERSION: download the module through the proxy (no-op when
# it is in the module cache) and print its read-only directory in the cache.
module_dir() {
	local json dir
	json=$("$GO" mod download -json "$1") || die "go mod download $1 failed: $json"
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -n "$dir" ] && [ -d "$dir" ] || die "go mod download $1 gave no Dir: $json"
	printf '%s\n' "$dir"
}

# writable_copy SRC DEST: copy SRC to DEST once (DEST/.outpost-copied marks a
# complete copy), made writable so that `go build` may edit go.sum there.
writable_copy() {
	local src=$1 dest=$2
	if [ -f "$dest/.outpost-copied" ]; then
		return 0
	fi
	log "copying $src -> $dest"
	rm -rf "$dest" "$dest.tmp"
	mkdir -p "$(dirname "$dest")"
	cp -R "$src" "$dest.tmp"
	chmod -R u+w "$dest.tmp"
	mv "$dest.tmp" "$dest"
	touch "$dest/.outpost-copied"
}

# go_build DIR PKG OUT [go build flags...]: build PKG inside DIR into OUT,
# atomically (OUT never holds a half-written binary).
go_build() {
	local dir=$1 pkg=$2 out=$3
	shift 3
	mkdir -p "$(dirname "$out")"
	log "building $pkg in $dir (a cold build takes minutes)"
	local start=$SECONDS
	(cd "$dir" && CGO_ENABLED=0 "$GO" build -trimpath "$@" -o "$out.tmp" "$pkg") || die "go build $pkg failed in $dir"
	mv "$out.tmp" "$out"
	log "built $out in $((SECONDS - start))s"
}
