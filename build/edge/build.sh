#!/bin/sh
# build.sh builds the edge worker and its static assets into build/out/edge:
#
#   build/edge/build.sh                 # OUT=... to choose the folder, SKIP_SITE=1 to reuse build/out/site
#
#   worker/   the script bundle: main.mjs (build/edge/main.mjs), wasm_exec.js (written by
#             github.com/syumai/workers' workers-assets-gen), app.wasm (wasm/edge) and
#             simd.wasm (the kernel, compiled by Workers ahead of time as a module import)
#   assets/   the site (build/site.sh), the release weights, models.json and _headers
#             (build/edge/pack, which fails on an asset over 25 MiB or a bundle over
#             MAX_GZIP bytes gzipped: 3 MiB, the free plan's limit, by default)
#   workerd.capnp, static.mjs   to run it all on plain workerd (make edge-dev)
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)
cd "$root"
out=${OUT:-build/out/edge}
weights=${WEIGHTS:-"weights/austen-mdm.q8_0.ckpt weights/austen-mdm.q4_0.ckpt weights/austen-ar.q8_0.ckpt weights/austen-ar.q4_0.ckpt"}
if [ "${SKIP_SITE:-}" != 1 ] || [ ! -f build/out/site/site/assets.json ]; then
	build/site.sh
fi
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
go run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o "$tmp/worker"
# Its worker.mjs and runtime.mjs start a Go instance per request; main.mjs replaces them.
rm -f "$tmp/worker/worker.mjs" "$tmp/worker/runtime.mjs"
cp build/edge/main.mjs "$tmp/worker/"
# nethttpomithttp2: the worker never speaks HTTP/2 itself (Cloudflare does), and
# leaving it out keeps about 170 kB gzipped out of the bundle.
GOOS=js GOARCH=wasm go build -tags nethttpomithttp2 -trimpath -ldflags="-s -w" -o "$tmp/worker/app.wasm" ./wasm/edge
# shellcheck disable=SC2086
go run ./build/edge/pack -site build/out/site -out "$tmp" -max-gzip "${MAX_GZIP:-3145728}" $weights
cp build/edge/workerd.capnp build/edge/static.mjs "$tmp/"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "build.sh: $out"
