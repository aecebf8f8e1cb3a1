#!/usr/bin/env bash
# Install the Debian packages listed in apt-packages.txt whose binaries are
# missing. Needs root (CI runs as root); prints what is missing otherwise.
set -euo pipefail
list="$(dirname "$0")/apt-packages.txt"
missing=()
while read -r bin pkg _; do
	case "$bin" in '' | '#'*) continue ;; esac
	if command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || [ -x "/usr/lib/systemd/$bin" ]; then
		continue
	fi
	# an absolute path (a glob allowed) names a file that is not a program
	if [[ "$bin" == /* ]] && compgen -G "$bin" >/dev/null; then
		continue
	fi
	missing+=("$pkg")
done <"$list"
[ ${#missing[@]} -eq 0 ] && exit 0
# de-duplicate
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "apt-deps: installing ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "apt-deps: not root; install these Debian packages: ${missing[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101: packages never start their services (tests start what they need)
rc=/usr/sbin/policy-rc.d
if [ ! -e "$rc" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$rc" && chmod +x "$rc"
	trap 'rm -f "$rc"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}"
