# flabsync — see README.md. `make help` lists the targets.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.Version=$(VERSION)
BIN     := bin/flabsync

.DEFAULT_GOAL := help
.PHONY: help build test test-short demo bench lint fmt clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/flabsync with the version stamped in
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/flabsync

test: ## run every test with the race detector (PostgreSQL tests need FLABSYNC_TEST_POSTGRES)
	@if [ -z "$$FLABSYNC_TEST_POSTGRES" ]; then echo "note: FLABSYNC_TEST_POSTGRES unset: PostgreSQL tests will skip (see README, Testing)"; fi
	$(GO) test -race -count=1 ./...

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short ./...

demo: build ## run the product end to end on the built-in simulator (no config needed)
	./$(BIN) demo

bench: ## run the benchmarks (figures go in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## gofmt + go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build output and the demo workspace
	rm -rf bin demo
