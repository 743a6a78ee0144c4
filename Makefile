# The station's whole set-up on a fresh Debian 12 machine:
#   make run    start the station on simulated devices; prints the operator UI address
#   make test   install what the tests need, then run every test
#   make bench  run the benchmarks and print one table
SHELL := /bin/bash
GO    ?= go
BIN   := bin

# Debian packages the build and the tests use: OpenCV for the camera and face
# checks (gocv), the PC/SC stack with vsmartcard's virtual reader for the chip
# card tests, and Chromium for the operator UI's browser tests.
APT_PACKAGES := build-essential pkg-config libopencv-dev opencv-data pcscd libpcsclite-dev vsmartcard-vpcd chromium

# -race needs cgo, which every package here can use.
TEST_FLAGS  ?= -race -count=1 -timeout 20m
# -p 1: one package's benchmarks at a time. go test otherwise runs as many
# packages at once as there are cores, and on a 2-core booth PC each
# benchmark then shares its core with another (the finger quality median
# read 10.1 ms that way, 6.5 ms alone).
BENCH_FLAGS ?= -p 1 -run '^$$' -bench . -benchmem -benchtime 300ms -timeout 30m
BENCH_PKGS  ?= ./...
# The browser tests save a screenshot of every step here, for people to
# review after a run (out/ is ignored by git).
SCREENSHOTS ?= out/screenshots

.PHONY: all deps build run test bench fuzz vet clean

all: build

# Install only what is missing; apt runs only then (with sudo when not root).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@$(GO) mod download

build: deps
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	@$(BIN)/simstation -bin $(BIN)

test: deps
	$(GO) vet ./...
	rm -rf $(SCREENSHOTS) && mkdir -p $(SCREENSHOTS)
	UI_SCREENSHOTS=$(abspath $(SCREENSHOTS)) $(GO) test $(TEST_FLAGS) ./...
	@echo "browser test screenshots, a folder per test: $(SCREENSHOTS)/"

bench: deps
	@set -o pipefail; $(GO) test $(BENCH_FLAGS) $(BENCH_PKGS) 2>&1 | $(GO) run ./cmd/benchtable

# Run every fuzz target for FUZZTIME each (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)
