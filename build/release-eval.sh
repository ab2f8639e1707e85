#!/usr/bin/env bash
# Scores the released files on Persuasion (the same 16,384 tokens for every file) and
# writes one JSON line per file to weights/eval/: the AR model's exact NLL and the masked
# diffusion model's ELBO bound (f32, q8_0, q4_0) with its standard error.
#   DRAWS=32 MAX_TOKENS=16384 build/release-eval.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DRAWS=${DRAWS:-32}
MAX_TOKENS=${MAX_TOKENS:-16384}
mkdir -p weights/eval build/.bin
go build -o build/.bin/eval ./core/cmd/eval
for f in austen-ar.f32 austen-mdm.f32 austen-mdm.q8_0 austen-mdm.q4_0 austen-ar.q8_0; do
  build/.bin/eval -model "weights/$f.ckpt" -draws "$DRAWS" -max-tokens "$MAX_TOKENS" -json | tail -n 1 > "weights/eval/$f.json"
  cat "weights/eval/$f.json"
done
