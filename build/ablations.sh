#!/usr/bin/env bash
# The seed's two ablations as equal-budget runs of a small masked diffusion model (same
# size, data, steps, batch, seed), each scored with the same ELBO bound on Persuasion:
#   baseline          time weight -alpha'/(1-alpha), normalised by B*L, one t per sequence
#   divide-by-masked  the common wrong normaliser (the masked count)
#   single-ratio      one masking ratio for the whole batch
# Writes build/out/ablations.md. STEPS (default 400) sets the budget.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-400}
OUT=${OUT:-runs/ablations}
mkdir -p "$OUT" build/out build/.bin
go build -o build/.bin/train ./core/cmd/train
go build -o build/.bin/eval ./core/cmd/eval
small=(-dim 128 -layers 4 -heads 4 -hidden 384 -seq-len 128 -batch 16 -steps "$STEPS" -warmup 40
  -eval-every 0 -checkpoint-every 100 -threads 1 -no-progress -seed 7)
run() { # name, extra flags...
  local name=$1; shift
  local args=("${small[@]}" -out "$OUT/$name" "$@")
  [ -f "$OUT/$name/checkpoint.ckpt" ] && args+=(-resume)
  if [ ! -f "$OUT/$name/model.ckpt" ]; then
    GOMAXPROCS=1 build/.bin/train "${args[@]}" > "$OUT/$name.log" 2>&1
  fi
  GOMAXPROCS=1 build/.bin/eval -model "$OUT/$name/model.ckpt" -draws 16 -max-tokens 8192 -threads 1 -json 2>/dev/null | tail -n 1 > "$OUT/$name.json"
}
run baseline &
run divide-by-masked -divide-by-masked &
wait
run single-ratio -single-ratio
{
  echo "| run (${STEPS} steps x 16 x 128 tokens, d=128, 4 layers) | Persuasion ELBO bound (nats/token) | ± stderr | perplexity bound |"
  echo "|---|---|---|---|"
  for name in baseline divide-by-masked single-ratio; do
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("| %s | %.4f | %.4f | %.1f |" % (sys.argv[2], r["nll"], r["stderr"], r["ppl"]))' "$OUT/$name.json" "$name"
  done
} > build/out/ablations.md
cat build/out/ablations.md
