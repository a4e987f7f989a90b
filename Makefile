# flabsync — see README.md. `make help` lists the targets.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
REVISION_TIME ?= $(shell git log -1 --format=%cI 2>/dev/null)
MODIFIED ?= $(shell test -n "$$(git status --porcelain 2>/dev/null)" && echo true)
LDFLAGS := -X main.Version=$(VERSION) -X main.Revision=$(REVISION) -X main.RevisionTime=$(REVISION_TIME) -X main.Modified=$(MODIFIED)
BIN     := bin/flabsync

.DEFAULT_GOAL := help
.PHONY: help build test unit fuzz test-short demo bench reliability lint fmt clean docs

FUZZTIME ?= 3s

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/flabsync with the version stamped in
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/flabsync

test: unit fuzz ## every test with the race detector, then each fuzz target for $(FUZZTIME)

unit: ## the tests alone (PostgreSQL tests need FLABSYNC_TEST_POSTGRES); -parallel 4: the command tests mostly wait on child processes
	@if [ -z "$$FLABSYNC_TEST_POSTGRES" ]; then echo "note: FLABSYNC_TEST_POSTGRES unset: PostgreSQL tests will skip (see docs/testing.md)"; fi
	$(GO) test -race -count=1 -parallel 4 ./...

fuzz: ## run every go test -fuzz target for $(FUZZTIME) (FUZZTIME=1m make fuzz for longer)
	@set -e; for file in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
	  pkg=./$$(dirname $${file#./}); \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg > /tmp/flabsync-fuzz.log 2>&1 || { cat /tmp/flabsync-fuzz.log; exit 1; }; \
	  done; \
	done

test-short: ## quick run without the race detector
	$(GO) test -count=1 -short ./...

demo: build ## run the product end to end on the built-in simulator (no config needed)
	./$(BIN) demo

RELIABILITY_ROWS ?= 20000

reliability: ## faults + five SIGKILLs during a $(RELIABILITY_ROWS)-row import; prints the accounting (make test runs a short form)
	FLABSYNC_RELIABILITY_ROWS=$(RELIABILITY_ROWS) $(GO) test -count=1 -timeout 30m -run '^TestReliability$$' -v ./cmd/flabsync | grep -E 'kill|rows |PASS|FAIL|ok|reliability_test'

docs: ## regenerate docs/commands.md and docs/config-keys.md from the code (a test fails when they are stale)
	$(GO) run ./cmd/flabsync gendocs --dir docs

bench: ## run the benchmarks (figures go in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## gofmt + go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean: ## remove build output and the demo workspace
	rm -rf bin demo
