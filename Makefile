# deskctl's developer entry points. `make help` lists them.

GO ?= go
BIN := bin
MODULE := github.com/deskctl/deskctl

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w \
	-X $(MODULE)/internal/version.version=$(VERSION) \
	-X $(MODULE)/internal/version.commit=$(COMMIT) \
	-X $(MODULE)/internal/version.date=$(DATE)

# Timeout of one test binary. The first binary that needs the local cluster
# may wait for the control plane's build, which `make tools` does up front.
TEST_TIMEOUT ?= 45m
TEST_FLAGS ?=

# Benchmarks run once each: they report ratios through b.ReportMetric, so a
# single run is meaningful and the whole set stays fast.
BENCH ?= .
BENCHTIME ?= 1x

# Fuzz targets as PACKAGE:FUZZ_FUNCTION, one per line. Add yours here.
FUZZ_TIME ?= 60s
FUZZ_TARGETS ?= \
	./pkg/rfb:FuzzConnect \
	./pkg/rfb:FuzzAccept \
	./pkg/accessjwt:FuzzVerify \
	./internal/gateway:FuzzAuthorize

CLUSTER_DIR := .cluster
KUBECONFIG_LOCAL := $(CURDIR)/$(CLUSTER_DIR)/kubeconfig
DEMO_CONFIG ?= manifests/demo/deskctl.yaml
LOCALCLUSTER := $(GO) run ./internal/testenv/cmd/localcluster

.PHONY: help build install test vet tools bench fuzz cluster-up cluster-down \
	demo completions docs clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

build: ## Build every command under cmd/ into bin/
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

install: ## Install deskctl into GOBIN
	$(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/deskctl

tools: ## Build the local control plane into its cache (once per tools go.sum)
	$(LOCALCLUSTER) tools

vet: ## Run go vet on the main module
	$(GO) vet ./...

test: vet tools ## Vet, then run every test, end-to-end tests included
	$(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

bench: tools ## Run every benchmark once
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -timeout $(TEST_TIMEOUT) ./...

fuzz: ## Run each of FUZZ_TARGETS for FUZZ_TIME
	@set -e; for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; fn=$${target##*:}; \
		echo "fuzz $$fn in $$pkg for $(FUZZ_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZ_TIME) $$pkg; \
	done

cluster-up: ## Start the local control plane in the background (reuses a running one)
	$(LOCALCLUSTER) up

cluster-down: ## Stop the local control plane and remove .cluster/
	$(LOCALCLUSTER) down

demo: cluster-up build ## Run deskctl up and ls on the local control plane
	$(BIN)/deskctl --kubeconfig $(KUBECONFIG_LOCAL) --config $(DEMO_CONFIG) up --wait --timeout 5m
	$(BIN)/deskctl --kubeconfig $(KUBECONFIG_LOCAL) --config $(DEMO_CONFIG) ls

completions: build ## Regenerate completions/ with the built deskctl
	@mkdir -p completions
	$(BIN)/deskctl completion bash > completions/deskctl.bash
	$(BIN)/deskctl completion zsh > completions/deskctl.zsh
	$(BIN)/deskctl completion fish > completions/deskctl.fish
	$(BIN)/deskctl completion powershell > completions/deskctl.ps1
	bash -n completions/deskctl.bash

# The man pages carry the date of the last commit, so regenerating them
# changes nothing until the commands do.
docs: ## Regenerate the man pages and markdown reference in docs/
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null) $(GO) run ./internal/docgen -out docs

clean: ## Remove build output (not the cluster: use cluster-down)
	rm -rf $(BIN) dist
