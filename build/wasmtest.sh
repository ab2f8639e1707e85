#!/bin/sh
# wasmtest.sh runs the wasm packages' tests in headless Chromium, where WebGPU is real
# (SwiftShader on machines without a GPU).
#
#   build/wasmtest.sh                 # GOOS=js GOARCH=wasm go test ./wasm/...
#   build/wasmtest.sh -run Forward -v ./wasm/gpu
#
# Arguments, if any, replace the default "./wasm/...". It installs wasmbrowsertest into
# build/.bin the first time (outside go.mod: it is a tool, not a dependency) and puts
# build/chromium/bin first on PATH so that go test finds go_js_wasm_exec and chromedp
# finds the headless-shell wrapper. Works as root on a fresh machine with chromium installed.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
WBT_VERSION=v0.11.0
if [ ! -x build/.bin/wasmbrowsertest ] || [ "$(cat build/.bin/wasmbrowsertest.version 2>/dev/null)" != "$WBT_VERSION" ]; then
	mkdir -p build/.bin
	GOBIN="$root/build/.bin" GOFLAGS=-mod=mod go install "github.com/agnivade/wasmbrowsertest@$WBT_VERSION"
	echo "$WBT_VERSION" > build/.bin/wasmbrowsertest.version
fi
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
	echo "wasmtest.sh: /usr/bin/chromium is missing (apt-get install -y chromium, or set CHROMIUM)" >&2
	exit 1
fi
PATH="$root/build/chromium/bin:$PATH"
export PATH
export GOOS=js GOARCH=wasm
if [ $# -eq 0 ]; then
	set -- ./wasm/...
fi
exec go test "$@"
