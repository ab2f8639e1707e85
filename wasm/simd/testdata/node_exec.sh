#!/bin/sh
# node_exec.sh runs a GOOS=js GOARCH=wasm test binary in Node, like Go's
# go_js_wasm_exec, but on a copy whose memory is shared (build/sharemem, as the page's
# cross-origin isolated engine), and hands the instance's memory to the program as
# globalThis.tdiffMemory (as site/worker.js does), which the SIMD kernel and its helper
# threads need (TDIFF_UNSHARED=1 runs the binary as built, on one thread):
#
#   GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" ./wasm/simd ./core/engine
set -eu
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
bin=$1
shift
if [ "${TDIFF_UNSHARED:-}" != 1 ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$here/../../.." && GOOS= GOARCH= go run ./build/sharemem "$bin" "$tmp/shared.wasm")
	bin=$tmp/shared.wasm
fi
node --stack-size=8192 "$here/node_exec.cjs" "$bin" "$@"
