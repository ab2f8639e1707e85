#!/bin/sh
# bench-browser.sh (make bench-browser) times one forward pass of the page's CPU path
# (f32 and Q8_0 release files, one thread; Q8_0 on two) and of onnxruntime-web's wasm EP (1 and 2 threads) on
# the same model in one headless Chromium, and prints medians and ratios:
#
#   build/bench-browser.sh [model.q8_0.ckpt] [benchbrowser flags...]
#   MODEL=weights/austen-mdm.q8_0.ckpt build/bench-browser.sh -runs 30 -rounds 3
#
# The f32 release file and the ONNX file are made from the Q8_0 one (quantize -type f32,
# quantize -export-onnx), so all three hold the same weights. onnxruntime-web comes from
# build/benchbrowser/node_modules (npm ci --ignore-scripts there; build/setup.sh does it).
# Everything it writes goes to build/out/bench.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
model=${MODEL:-weights/austen-mdm.q8_0.ckpt}
case "${1:-}" in
*.ckpt) model=$1; shift ;;
esac
if [ ! -f build/benchbrowser/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs ]; then
	echo "bench-browser.sh: onnxruntime-web is not installed: (cd build/benchbrowser && npm ci --ignore-scripts), or build/setup.sh" >&2
	exit 1
fi
out=build/out/bench
mkdir -p "$out"
base=$(basename "$model" .ckpt)
base=${base%.q8_0}
GOOS=js GOARCH=wasm go build -trimpath -o "$out/ours.wasm" ./build/benchbrowser/ours
go run ./build/sharemem "$out/ours.wasm" "$out/ours-shared.wasm" # for our CPU path on 2 threads
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" site/sharedmem.js "$out/"
cp "$model" "$out/$base.q8_0.ckpt"
go run ./core/cmd/quantize -in "$model" -type f32 -out "$out/$base.f32.ckpt" >/dev/null
go run ./core/cmd/quantize -in "$model" -export-onnx "$out/$base.onnx" >/dev/null
exec go run ./build/benchbrowser -dir "$out" -f32 "$base.f32.ckpt" -q8 "$base.q8_0.ckpt" -onnx "$base.onnx" "$@"
