#!/bin/sh
# site.sh builds the static site into one folder (default build/out/site):
#
#   build/site.sh [model.ckpt]      # default weights/austen-mdm.q8_0.ckpt (or $MODEL)
#   OUT=/tmp/site build/site.sh /tmp/tiny-mdm/model.ckpt
#   CONTINUOUS=/tmp/tencdm.ckpt build/site.sh   # the continuous model of the page's selector
#                                              # (default weights/austen-tencdm.q8_0.ckpt, if present)
#
# Layout: index.html at the top, everything else under site/: the page's modules, the
# widget and its example page, Go's wasm_exec.js, the engine tdiff.<hash>.wasm and its
# shared-memory twin tdiff-shared.<hash>.wasm (each with a gzipped copy for servers that
# send it), the SIMD kernel's modules kernel-<flavour>.<hash>.wasm, the weights <name>.<hash>.ckpt and assets.json
# naming both, with the page's menus and defaults (build/choices). <hash> is the first 16 hex digits of the file's SHA-256, so those two can be
# cached forever (build/serve does). The folder is replaced only once it is complete.
set -eu
root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$root"
model=${1:-${MODEL:-weights/austen-mdm.q8_0.ckpt}}
out=${OUT:-build/out/site}
if [ ! -f "$model" ]; then
	echo "site.sh: no weights at $model (give a release file: build/site.sh path/to/model.ckpt)" >&2
	exit 1
fi
tmp="$out.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp/site"

hash16() { sha256sum "$1" | cut -c1-16; }
size() { wc -c < "$1" | tr -d ' '; }

GOOS=js GOARCH=wasm go build -ldflags="-s -w" -o "$tmp/site/tdiff.wasm" ./wasm
# The same engine on a shared memory, which a cross-origin isolated page takes so that
# helper threads can share the products (wasm/simd); the plain one serves the others.
go run ./build/sharemem "$tmp/site/tdiff.wasm" "$tmp/site/tdiff-shared.wasm"
wasm="tdiff.$(hash16 "$tmp/site/tdiff.wasm").wasm"
wasm_shared="tdiff-shared.$(hash16 "$tmp/site/tdiff-shared.wasm").wasm"
mv "$tmp/site/tdiff.wasm" "$tmp/site/$wasm"
mv "$tmp/site/tdiff-shared.wasm" "$tmp/site/$wasm_shared"
gzip -9 -n -k "$tmp/site/$wasm" "$tmp/site/$wasm_shared"
# The SIMD kernel's module in its flavours (build/kernel), which the worker compiles beside
# the engine: the engine does not build it at run time.
kernel=$(go run ./build/kernel "$tmp/site")

name=$(basename "$model" .ckpt)
sha=$(sha256sum "$model" | cut -d' ' -f1)
weights="$name.$(echo "$sha" | cut -c1-16).ckpt"
cp "$model" "$tmp/site/$weights"

# The continuous diffusion model, offered by the page's model selector when present.
cont=${CONTINUOUS:-weights/austen-tencdm.q8_0.ckpt}
cont_json=""
cfile=""
if [ -f "$cont" ]; then
	cname=$(basename "$cont" .ckpt)
	csha=$(sha256sum "$cont" | cut -d' ' -f1)
	cfile="$cname.$(echo "$csha" | cut -c1-16).ckpt"
	cp "$cont" "$tmp/site/$cfile"
	cont_json=$(printf ',\n  "continuous": {\n    "name": "%s",\n    "file": "%s",\n    "bytes": %s,\n    "sha256": "%s"\n  }' "$cname" "$cfile" "$(size "$cont")" "$csha")
elif [ -n "${CONTINUOUS:-}" ]; then
	echo "site.sh: no continuous model at $cont" >&2
	exit 1
fi

cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" "$tmp/site/"
cp site/*.js site/*.css site/*.html "$tmp/site/"
cp index.html "$tmp/"

cat > "$tmp/site/assets.json" <<JSON
{
  "wasm": "$wasm",
  "wasmBytes": $(size "$tmp/site/$wasm"),
  "wasmGzipBytes": $(size "$tmp/site/$wasm.gz"),
  "wasmShared": "$wasm_shared",
  "wasmSharedBytes": $(size "$tmp/site/$wasm_shared"),
  "wasmSharedGzipBytes": $(size "$tmp/site/$wasm_shared.gz"),
  "kernel": $kernel,
  "choices": $(go run ./build/choices),
  "weights": {
    "name": "$name",
    "file": "$weights",
    "bytes": $(size "$model"),
    "sha256": "$sha"
  }$(printf "$cont_json")
}
JSON

rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
echo "site.sh: $out (engine $wasm $(size "$out/site/$wasm") bytes, $(size "$out/site/$wasm.gz") gzipped; weights $weights $(size "$out/site/$weights") bytes${cfile:+; continuous $cfile $(size "$out/site/$cfile") bytes})"
