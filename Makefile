# Text diffusion language models in Go. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
export CGO_ENABLED ?= 0

.PHONY: help test test-native test-wasm test-browser bench fuzz train-demo site serve e2e clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

test: test-native test-wasm test-browser ## everything CI runs: native tests, wasm build+tests, browser tests

test-native: ## go vet and the native test suite (OpenBLAS when installed, else pure Go)
	$(GO) vet ./...
	$(GO) test ./...
	TDIFF_BLAS=gonum $(GO) test ./core/blas ./core/nn ./core/model

test-wasm: ## build everything for the browser; run the pure-Go packages' tests under node
	GOOS=js GOARCH=wasm $(GO) build ./...
	GOOS=js GOARCH=wasm $(GO) test -exec "$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" ./core/quant ./core/masked ./core/nn

test-browser: ## WebGPU kernels and the page itself in headless Chromium (SwiftShader)
	build/wasmtest.sh
	build/e2e.sh

site: ## build the static site into build/out/site (MODEL=... to choose the weights)
	build/site.sh

serve: ## serve build/out/site on http://127.0.0.1:8080
	$(GO) run ./build/serve

e2e: ## build the site and run the page tests in headless Chromium
	build/e2e.sh

bench: ## train the demo model a few steps: time by kernel family, then mfu=… mfu_iqr=… mfu_cpu=… tokens_per_s=… backend=…
	$(GO) run ./core/cmd/bench

fuzz: ## run every fuzz target (FUZZTIME=5m each by default); not part of CI
	build/fuzz.sh

train-demo: ## train and release austen-mdm and austen-ar in the background (resumable); log in runs/
	mkdir -p runs
	nohup build/train-demo.sh > runs/train-demo.out 2>&1 &
	@echo "training in the background: tail -f runs/demo-ar.log runs/demo-mdm4.log runs/demo-mdm5.log"

clean: ## remove build outputs (keeps runs/ and weights/)
	rm -rf build/out build/.bin
