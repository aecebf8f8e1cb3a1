# outpost — everything a fresh clone needs is built here from the Go module
# proxy: the binary, and the pinned tools in tools/go.mod (telemetrygen for
# the end-to-end tests and load runs, staticcheck for lint).

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
CONFIG   ?= configs/default.yaml
TELEMETRYGEN_PKG := github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen

export OUTPOST_BIN       := $(CURDIR)/bin/outpost
export TELEMETRYGEN_BIN  := $(CURDIR)/bin/telemetrygen
export PROMETHEUS_BIN    := $(CURDIR)/bin/prometheus
export JAEGER_BIN        := $(CURDIR)/bin/jaeger
export LOKI_BIN          := $(CURDIR)/bin/loki
export OTELCOL_BIN       := $(CURDIR)/bin/otelcol-peer
export PROMTOOL_BIN      := $(CURDIR)/bin/promtool
export LOKIPUSH_BIN      := $(CURDIR)/bin/lokipush
export LOKI_CANARY_BIN   := $(CURDIR)/bin/loki-canary

# Writable copies of the peers' module sources (see tools/peers/README.md);
# kept out of the repository so that `make clean` leaves them, and a rebuild
# after it is a relink.
PEERS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/outpost-peers

.PHONY: all build run test test-economy test-unit lint bench bench-compare fuzz-short tools peers apt-deps clean dist image

all: build

## build: static binary in bin/outpost, version stamped
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/outpost ./cmd/outpost

## run: run outpost on $(CONFIG) (configs/default.yaml)
run: build
	./bin/outpost run -c $(CONFIG)

bin/telemetrygen: tools/go.mod tools/go.sum
	cd tools && CGO_ENABLED=0 $(GO) build -trimpath -o ../bin/telemetrygen $(TELEMETRYGEN_PKG)

bin/staticcheck: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../bin/staticcheck honnef.co/go/tools/cmd/staticcheck

## bin/lokipush: pushes numbered lines with github.com/grafana/loki-client-go
## (pinned in tools/go.mod), a real client for the loki receiver's tests
bin/lokipush: tools/go.mod tools/go.sum tools/lokipush/main.go
	cd tools && CGO_ENABLED=0 $(GO) build -trimpath -o ../bin/lokipush ./lokipush

tools: bin/telemetrygen bin/staticcheck bin/lokipush

## peers: the real central servers the exporter tests run against, built from
## their Go modules (cold: minutes; see tools/peers/README.md)
PEER_BUILD = PEERS_CACHE='$(PEERS_CACHE)' GO='$(GO)' bash tools/peers/build-$(notdir $@).sh $@

bin/prometheus: tools/peers/build-prometheus.sh tools/peers/lib.sh
	$(PEER_BUILD)

bin/jaeger: tools/peers/build-jaeger.sh tools/peers/lib.sh
	$(PEER_BUILD)

bin/loki: tools/peers/build-loki.sh tools/peers/lib.sh
	$(PEER_BUILD)

peers: bin/prometheus bin/jaeger bin/loki bin/promtool bin/loki-canary

## bin/promtool: `promtool check rules` / `test rules` for dashboards/alerts/,
## from the same Prometheus module copy as bin/prometheus, after it (order
## only), so that it reuses the packages that build put in the build cache
bin/promtool: tools/peers/build-promtool.sh tools/peers/lib.sh | bin/prometheus
	$(PEER_BUILD)

## bin/loki-canary: Loki's canary, from the same module copy as bin/loki
bin/loki-canary: tools/peers/build-loki-canary.sh tools/peers/build-loki.sh tools/peers/lib.sh | bin/loki
	$(PEER_BUILD)

## bin/otelcol-peer: the OpenTelemetry Collector for the side-by-side
## benchmark, built with its official builder from
## ../shared/peers/otelcol-manifest.yaml (not part of `make test` or `peers`)
bin/otelcol-peer: tools/peers/build-otelcol.sh tools/peers/lib.sh
	PEERS_CACHE='$(PEERS_CACHE)' GO='$(GO)' bash tools/peers/build-otelcol.sh $@

## test: unit, fuzz-seed and end-to-end tests, with the race detector,
## shuffled; the end-to-end tests run the real Prometheus, Loki and Jaeger
## (built once, in parallel, from their modules: see tools/peers/README.md)
test: build bin/telemetrygen bin/lokipush apt-deps
	$(MAKE) -j3 peers
	$(MAKE) test-economy
	$(GO) test -race -shuffle=on -timeout 14m -skip '^TestEdgeEconomy$$' ./...

## test-economy: the edge-economy test alone (about 2.5 min, most of it
## waiting for whole minutes of the sidecar's downsampling). make test runs
## it first, on a machine not yet busy with the suite: it counts bytes, and
## a loaded machine makes the 1 s scrapes it compares late. In the
## cmd/outpost package it would add to the longest package's time.
test-economy:
	$(GO) test -count=1 -timeout 8m -v -run '^TestEdgeEconomy$$' ./cmd/outpost/

## apt-deps: the Debian packages the tests run (node_exporter, logrotate, rsyslog,
## ...), installed when their binaries are missing: tools/deps/apt-packages.txt
apt-deps:
	bash tools/deps/apt.sh

## test-unit: only the fast tests (no binary, no peers)
test-unit:
	$(GO) test -race -shuffle=on -short ./...

## lint: gofmt, go vet, staticcheck
lint: bin/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	./bin/staticcheck ./...

## bench: Go benchmarks, end-to-end load runs of the real binary, then the
## side-by-side runs against the OpenTelemetry Collector (bench-compare)
bench: build bin/telemetrygen bin/otelcol-peer
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...
	OUTPOST_LOADTEST=1 $(GO) test -count 1 -v -run TestLoad -timeout 30m ./internal/loadtest/
	OUTPOST_LOADTEST=1 $(GO) test -count 1 -v -run TestCompare -timeout 4h ./internal/loadtest/
	OUTPOST_LOADTEST=1 $(GO) test -count 1 -v -run TestScrapeCompare -timeout 30m ./internal/loadtest/

## bench-compare: only the side-by-side runs (knobs OUTPOST_BENCH_*: docs/benchmarks.md)
bench-compare: build bin/telemetrygen bin/otelcol-peer
	OUTPOST_LOADTEST=1 $(GO) test -count 1 -v -run TestCompare -timeout 4h ./internal/loadtest/

## fuzz-short: every fuzz target for 10 s
fuzz-short:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime 10s $$pkg; \
	  done; \
	done

## dist: static, version-stamped binaries for the edge platforms in dist/
## (outpost-VERSION-linux-amd64, -arm64, -armv7) and their SHA256SUMS
DIST_PLATFORMS ?= linux/amd64 linux/arm64 linux/arm/v7
dist:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(DIST_PLATFORMS); do \
	  os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; variant=$${rest#$$arch}; variant=$${variant#/}; \
	  name=outpost-$(VERSION)-$$os-$$arch$$variant; \
	  echo "== $$name"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$${variant#v} $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/$$name ./cmd/outpost; \
	done
	cd dist && sha256sum outpost-* > SHA256SUMS && cat SHA256SUMS

## image: the container image (deploy/Dockerfile: the static binary on
## scratch, non-root) with buildah, or podman
IMAGE ?= outpost:$(VERSION)
image: build
	@if command -v buildah >/dev/null; then buildah bud --layers=false -f deploy/Dockerfile -t $(IMAGE) .; \
	elif command -v podman >/dev/null; then podman build -f deploy/Dockerfile -t $(IMAGE) .; \
	else echo "image: needs buildah or podman (Debian packages buildah, podman)"; exit 1; fi

clean:
	rm -rf bin data dist
