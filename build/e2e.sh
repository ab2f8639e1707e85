#!/bin/sh
# e2e.sh builds the site and runs the page tests in headless Chromium (build/e2e):
#
#   build/e2e.sh [model.ckpt] [go test flags...]   # default weights/austen-mdm.q8_0.ckpt
#   build/e2e.sh /tmp/tiny-mdm/model.ckpt -run CPU
#
# First the wasm engine's tests run in Node (when installed) with Go's memory handed over,
# which the SIMD kernel needs (wasmbrowsertest cannot do that). Screenshots land in
# build/out/e2e-*.png. SKIP_SITE=1 reuses build/out/site as built.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
model=${MODEL:-weights/austen-mdm.q8_0.ckpt}
case "${1:-}" in
*.ckpt) model=$1; shift ;;
esac
if command -v node >/dev/null 2>&1; then
	GOOS=js GOARCH=wasm go test -count=1 -exec "$root/wasm/simd/testdata/node_exec.sh" ./wasm/simd ./core/engine
else
	echo "e2e.sh: node not installed: the SIMD glue is checked only through the pages" >&2
fi
if [ "${SKIP_SITE:-}" != 1 ]; then
	build/site.sh "$model"
fi
TDIFF_E2E=1 exec go test -count=1 -v -timeout 30m "$@" ./build/e2e
