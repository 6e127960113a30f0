# Postern: the two commands a new user needs are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/postern
CLIENT_BIN ?= bin/postern-client
DATA_DIR  ?= postern-data
LISTEN    ?= 127.0.0.1:8443
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
DIST      ?= dist
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
VERSION   ?= $(shell git describe --tags --dirty 2>/dev/null)

.PHONY: run build client release test test-deps vet console unit tutorial packaging fuzz bench clean

## run: build postern and start a one-machine server (SQLite, self-made TLS) in ./postern-data
run: build
	./$(BIN) server --data-dir $(DATA_DIR) --listen $(LISTEN)

## build: compile bin/postern (static, as the release: an exec of a dynamically linked one costs ~1 ms more)
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/postern

## client: compile bin/postern-client, the client build for workstations (-tags postern_client: the same
## commands and flags without server, migrate and endpoint-agent; links neither the server, SQLite, pgx nor
## Prometheus, and starts faster); install it as `postern`
client:
	CGO_ENABLED=0 $(GO) build -tags postern_client -o $(CLIENT_BIN) ./cmd/postern

## release: static, stripped, reproducible binaries for linux and darwin (amd64, arm64), full
## (postern-OS-ARCH) and client (postern-client-OS-ARCH) builds, shell
## completions, man pages and systemd units in dist/, with SHA256SUMS (scripts/release.sh)
release:
	GO=$(GO) VERSION=$(VERSION) PLATFORMS="$(PLATFORMS)" ./scripts/release.sh $(DIST)

## test: install what the tests need, then vet, race-test everything and fuzz each parser briefly
test: test-deps vet console unit tutorial packaging fuzz

test-deps:
	./scripts/test-deps.sh

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	CGO_ENABLED=0 $(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet -tags postern_client ./cmd/... ./internal/cli/ ./internal/deptest/
	GOOS=darwin GOARCH=arm64 CGO_ENABLED=0 $(GO) vet ./...   # the release builds darwin too: its code and tests must vet there
	cd tools/oidc-provider && $(GO) vet ./...

## console: the committed console page is exactly what web/console's sources and lockfile build
console:
	./scripts/console-build.sh --check

unit:
	GO=$(GO) ./scripts/unit.sh

## tutorial: the EC2 Instance Connect Endpoint tutorial with `aws` replaced by `postern`, against a real server
tutorial: build
	./tests/tutorial.sh $(BIN)

## packaging: the systemd units pass systemd-analyze; `make release` is reproducible (two builds, same checksums)
packaging:
	./tests/systemd.sh
	GO=$(GO) ./tests/release.sh

## fuzz: run every fuzz target for FUZZTIME
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

## bench: measure API, policy and tunnel performance on the binaries against same-run baselines (TUNNELS=100000 for the 100,000-tunnel run, after raising the file limits as the README says; see internal/bench/tunnelbench)
bench:
	POSTERN_BENCH_TUNNELS=$(or $(TUNNELS),1000) ./scripts/bench.sh $(BENCHTIME)

clean:
	rm -rf bin dist
