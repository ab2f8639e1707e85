#!/bin/sh
# node_exec.sh runs a GOOS=js GOARCH=wasm test binary in Node, like Go's
# go_js_wasm_exec, but also hands the instance's memory to the program as
# globalThis.tdiffMemory (as site/worker.js does), which the SIMD kernel needs:
#
#   GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" ./wasm/simd ./core/engine
exec node --stack-size=8192 "$(dirname "$0")/node_exec.cjs" "$@"
