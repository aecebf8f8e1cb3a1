#!/usr/bin/env bash
# Hand smoke check of the peer binaries: start each on free 127.0.0.1 ports
# from the config templates here, wait until ready, push one item, query it
# back, stop. Not part of `make test`; needs curl and python3 (for free ports
# and the remote-write payload).
#   tools/peers/smoke.sh [prometheus|jaeger|loki]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tools/peers
WORK=$(mktemp -d /tmp/outpost-peers-smoke.XXXXXX)
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
# render TEMPLATE OUT KEY=VALUE...: replace {{.KEY}} with VALUE.
render() {
	local tpl=$1 out=$2 kv expr=(-e "")
	shift 2
	for kv in "$@"; do expr+=(-e "s|{{\.${kv%%=*}}}|${kv#*=}|g"); done
	sed "${expr[@]}" "$tpl" >"$out"
	if grep -n '{{' "$out"; then echo "unrendered placeholder in $out" >&2; exit 1; fi
}
# wait_ready NAME URL PID: poll URL until 200; print how long it took.
wait_ready() {
	local name=$1 url=$2 pid=$3 start=$(now_ms)
	for _ in $(seq 1 600); do
		if ! kill -0 "$pid" 2>/dev/null; then echo "$name exited; log:" >&2; cat "$WORK/$name.log" >&2; exit 1; fi
		if [ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
			say "$name ready ($url) after $(($(now_ms) - start)) ms"
			return 0
		fi
		sleep 0.1
	done
	echo "$name not ready after 60 s; log:" >&2; cat "$WORK/$name.log" >&2; exit 1
}
stop() {
	local name=$1 pid=$2 start=$(now_ms)
	kill -TERM "$pid"; wait "$pid" || true
	say "$name stopped in $(($(now_ms) - start)) ms"
}
listeners() {
	say "$1 listening on:"
	ss -ltnpH | awk -v p="pid=$2," 'index($0,p){print "   ", $4}' | sort -u
	local other
	# ss -tuanp columns: netid state recv-q send-q local peer process.
	other=$(ss -tuanpH | awk -v p="pid=$2," -v lo='^(127\\.0\\.0\\.1|\\[::1\\]|\\[::ffff:127\\.0\\.0\\.1\\]):' -v any='^(0\\.0\\.0\\.0|\\*|\\[::\\]):\\*$' \
		'index($0,p) && ($5 !~ lo || ($6 !~ lo && $6 !~ any))')
	say "$1 sockets with a non-loopback end: ${other:-none}"
}

smoke_prometheus() {
	local port dir pid ts
	port=$(free_port); dir=$WORK/prometheus-data
	render $HERE/prometheus.yml "$WORK/prometheus.yml"
	say "bin/prometheus --version: $(bin/prometheus --version 2>&1 | head -n1)"
	set -x
	bin/prometheus --config.file="$WORK/prometheus.yml" --web.listen-address=127.0.0.1:$port \
		--storage.tsdb.path="$dir" --web.enable-remote-write-receiver >"$WORK/prometheus.log" 2>&1 &
	{ set +x; } 2>/dev/null
	pid=$!; PIDS+=("$pid")
	wait_ready prometheus "http://127.0.0.1:$port/-/ready" "$pid"
	listeners prometheus "$pid"
	ts=$(now_ms)
	# A remote-write 1.0 WriteRequest with one series, one sample, snappy
	# block format (as a single literal: valid, just not compressed).
	python3 - "$ts" >"$WORK/rw.bin" <<'PY'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7f; n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])
def field(num, payload): return varint(num << 3 | 2) + varint(len(payload)) + payload
def label(k, v): return field(1, field(1, k.encode()) + field(2, v.encode()))
ts = int(sys.argv[1])
sample = b"\x09" + struct.pack("<d", 42.5) + b"\x10" + varint(ts)
series = label("__name__", "outpost_smoke_total") + label("job", "smoke") + field(2, sample)
raw = field(1, series)
assert len(raw) <= 256
tag = bytes([(len(raw) - 1) << 2]) if len(raw) <= 60 else bytes([60 << 2, len(raw) - 1])
sys.stdout.buffer.write(varint(len(raw)) + tag + raw)
PY
	set -x
	curl -sS -o "$WORK/rw.out" -w 'remote write: HTTP %{http_code}\n' -X POST \
		-H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: snappy' \
		-H 'X-Prometheus-Remote-Write-Version: 0.1.0' \
		--data-binary @"$WORK/rw.bin" "http://127.0.0.1:$port/api/v1/write"
	curl -sS "http://127.0.0.1:$port/api/v1/query" --data-urlencode 'query=outpost_smoke_total' --data-urlencode "time=$((ts / 1000 + 1))"
	{ set +x; } 2>/dev/null
	echo
	stop prometheus "$pid"
}

smoke_jaeger() {
	local grpc http qhttp qgrpc health pid trace=5b8efff798038103d269b633813fc60c
	grpc=$(free_port); http=$(free_port); qhttp=$(free_port); qgrpc=$(free_port); health=$(free_port)
	render $HERE/jaeger.yaml "$WORK/jaeger.yaml" OTLPGRPC=$grpc OTLPHTTP=$http QueryHTTP=$qhttp QueryGRPC=$qgrpc Health=$health
	say "bin/jaeger version: $(bin/jaeger version 2>&1 | tr -d '\n' | head -c 200)"
	set -x
	bin/jaeger --config "$WORK/jaeger.yaml" >"$WORK/jaeger.log" 2>&1 &
	{ set +x; } 2>/dev/null
	pid=$!; PIDS+=("$pid")
	wait_ready jaeger "http://127.0.0.1:$health/status" "$pid"
	listeners jaeger "$pid"
	local now=$(date +%s%N)
	set -x
	curl -sS -w '\nOTLP/HTTP push: HTTP %{http_code}\n' -X POST -H 'Content-Type: application/json' \
		"http://127.0.0.1:$http/v1/traces" -d '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"outpost-smoke"}}]},"scopeSpans":[{"spans":[{"traceId":"'$trace'","spanId":"eee19b7ec3c1b174","name":"smoke-span","kind":2,"startTimeUnixNano":"'$((now - 1000000))'","endTimeUnixNano":"'$now'"}]}]}]}'
	{ set +x; } 2>/dev/null
	if [ -x bin/telemetrygen ]; then
		set -x
		bin/telemetrygen traces --otlp-endpoint 127.0.0.1:$grpc --otlp-insecure --traces 1 --service outpost-smoke-grpc 2>&1 | grep 'traces generated' || true
		{ set +x; } 2>/dev/null
	fi
	set -x
	curl -sS "http://127.0.0.1:$qhttp/api/services"
	{ set +x; } 2>/dev/null
	echo
	set -x
	curl -sS "http://127.0.0.1:$qhttp/api/traces/$trace" | head -c 400
	{ set +x; } 2>/dev/null
	echo
	stop jaeger "$pid"
}

smoke_loki() {
	local http grpc pid now
	http=$(free_port); grpc=$(free_port)
	mkdir -p "$WORK/loki-data"
	render $HERE/loki.yaml "$WORK/loki.yaml" HTTP=$http GRPC=$grpc Dir="$WORK/loki-data"
	say "bin/loki -version: $(bin/loki -version 2>&1 | head -n1)"
	set -x
	bin/loki -config.file="$WORK/loki.yaml" -target=all >"$WORK/loki.log" 2>&1 &
	{ set +x; } 2>/dev/null
	pid=$!; PIDS+=("$pid")
	wait_ready loki "http://127.0.0.1:$http/ready" "$pid"
	listeners loki "$pid"
	now=$(date +%s%N)
	set -x
	curl -sS -w 'push: HTTP %{http_code}\n' -X POST -H 'Content-Type: application/json' \
		"http://127.0.0.1:$http/loki/api/v1/push" \
		-d '{"streams":[{"stream":{"job":"outpost-smoke"},"values":[["'$now'","hello from the smoke check"]]}]}'
	curl -sS -G "http://127.0.0.1:$http/loki/api/v1/query_range" --data-urlencode 'query={job="outpost-smoke"}' \
		--data-urlencode "start=$((now - 60000000000))" --data-urlencode "end=$((now + 60000000000))" | head -c 600
	{ set +x; } 2>/dev/null
	echo
	stop loki "$pid"
}

for peer in "${@:-prometheus jaeger loki}"; do
	for p in $peer; do "smoke_$p"; done
done
