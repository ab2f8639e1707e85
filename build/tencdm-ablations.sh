#!/usr/bin/env bash
# Continuous diffusion (TEncDM) ablations: small denoisers at an equal budget (same size,
# data, steps, batch, seed), each scored by the quality command with the same AR judge:
#   base        contextual latents (the released masked model's hidden states), tan-d d=9,
#               self-conditioning on
#   embeddings  the same model's token embeddings as latents (context-free), own decoder
#   tan3, tan20 tan-d with d = 3 and 20
#   cosine, sqrt the other two schedules
#   nosc        self-conditioning off
#   steps       base sampled with 25/50/100/200 denoiser steps
#   decoders    base decoded by a decoder trained on corrupted latents (t ~ U[0, 0.15])
#               against one trained on clean latents, at the same budget
#   masked      a masked diffusion model of the denoiser's size and budget (equal compute)
# Every run resumes after a kill. Writes weights/tencdm-ablations.{md,png} and the
# decoders' accuracies to runs/tencdm-ablations/*.eval.json. STEPS (default 200) and DSTEPS (300)
# set the denoisers' and decoders' budgets; ENCODER the encoder file. The runs go in order
# of the questions' weight (the seed's two claims first), so a cut-short session still
# answers those.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-200}
DSTEPS=${DSTEPS:-300}
OUT=${OUT:-runs/tencdm-ablations}
ENCODER=${ENCODER:-weights/austen-mdm.q8_0.ckpt}
mkdir -p "$OUT" build/.bin
go build -o build/.bin/train ./core/cmd/train
go build -o build/.bin/encstats ./core/cmd/encstats
go build -o build/.bin/eval ./core/cmd/eval
go build -o build/.bin/quality ./core/cmd/quality
for kind in contextual embeddings; do
  flag=; [ $kind = embeddings ] && flag=-embeddings
  [ -f "$OUT/stats-$kind.json" ] || build/.bin/encstats -model "$ENCODER" $flag -threads 1 -out "$OUT/stats-$kind.json" >/dev/null
done
common=(-encoder "$ENCODER" -seq-len 128 -seed 7 -eval-every 0 -eval-tokens 4096 -checkpoint-every 100 -threads 1 -no-progress)
run() { # name, extra flags... (trains unless its model file exists)
  local name=$1; shift
  local args=("${common[@]}" -out "$OUT/$name" "$@")
  [ -f "$OUT/$name/checkpoint.ckpt" ] && args=(-out "$OUT/$name" -resume -threads 1 -no-progress)
  if [ ! -f "$OUT/$name/model.ckpt" ]; then
    echo "$(date -u +%H:%M) training $name"
    GOMAXPROCS=1 build/.bin/train "${args[@]}" > "$OUT/$name.log" 2>&1
  fi
}
decoder=(-objective decoder -layers 2 -batch 8 -steps "$DSTEPS" -warmup 30)
den=(-objective continuous -layers 2 -batch 8 -steps "$STEPS" -warmup 30)
run dec-noisy "${decoder[@]}" -encoder-stats "$OUT/stats-contextual.json"
run dec-clean "${decoder[@]}" -encoder-stats "$OUT/stats-contextual.json" -decoder-t-max 0
run dec-emb "${decoder[@]}" -encoder-stats "$OUT/stats-embeddings.json" -latents embeddings
# DECODER: the contextual denoisers' decoder (default the ablation's own dec-noisy; the
# release's runs/tencdm/decoder/model.ckpt is a better one).
DECODER=${DECODER:-$OUT/dec-noisy/model.ckpt}
ctx=(-encoder-stats "$OUT/stats-contextual.json" -decoder "$DECODER")
# Two lanes, one core each.
{
  run base "${den[@]}" "${ctx[@]}"
  run cosine "${den[@]}" "${ctx[@]}" -noise-schedule cosine
  run tan3 "${den[@]}" "${ctx[@]}" -tan-d 3
  run tan20 "${den[@]}" "${ctx[@]}" -tan-d 20
} &
{
  run embeddings "${den[@]}" -latents embeddings -encoder-stats "$OUT/stats-embeddings.json" -decoder "$OUT/dec-emb/model.ckpt"
  run nosc "${den[@]}" "${ctx[@]}" -self-cond=false
  run sqrt "${den[@]}" "${ctx[@]}" -noise-schedule sqrt
  run masked -objective mdm -layers 2 -batch 8 -steps "$STEPS" -warmup 30
} &
wait
# The base denoiser with the clean-latent decoder: its run folder copied and resumed at its
# last step with the other decoder (no step is taken; the files are rewritten).
if [ ! -f "$OUT/base-cleandec/model.ckpt" ]; then
  rm -rf "$OUT/base-cleandec" && cp -r "$OUT/base" "$OUT/base-cleandec" && rm "$OUT/base-cleandec/model.ckpt"
  GOMAXPROCS=1 build/.bin/train -out "$OUT/base-cleandec" -resume -threads 1 -no-progress -decoder "$OUT/dec-clean/model.ckpt" > "$OUT/base-cleandec.log" 2>&1
fi
if [ ! -f "$OUT/base-noisydec/model.ckpt" ]; then # and with the ablation's own noisy decoder, its equal
  rm -rf "$OUT/base-noisydec" && cp -r "$OUT/base" "$OUT/base-noisydec" && rm "$OUT/base-noisydec/model.ckpt"
  GOMAXPROCS=1 build/.bin/train -out "$OUT/base-noisydec" -resume -threads 1 -no-progress -decoder "$OUT/dec-noisy/model.ckpt" > "$OUT/base-noisydec.log" 2>&1
fi
for name in base base-noisydec base-cleandec embeddings; do
  build/.bin/eval -model "$OUT/$name/model.ckpt" -max-tokens 8192 -threads 1 -json 2>/dev/null | tail -n 1 > "$OUT/$name.eval.json"
done
files=()
for name in base embeddings cosine tan3 tan20 sqrt nosc base-noisydec base-cleandec; do files+=("$OUT/$name/model.ckpt"); done
SAMPLES=${SAMPLES:-16}
build/.bin/quality -model "$OUT/masked/model.ckpt" -strategies low-confidence,semi-ar -grids cosine -steps 64 -temperature 1 \
  -continuous "$(IFS=,; echo "${files[*]}")" -continuous-steps 50 -samples "$SAMPLES" -n 64 -threads 2 -no-progress -ar=false \
  -out-md "$OUT/rows.md" -out-png weights/tencdm-ablations.png -out-samples "$OUT/samples.txt" -json > "$OUT/rows.json"
build/.bin/quality -model "" -continuous "$OUT/base/model.ckpt" -continuous-steps 25,50,100,200 -solvers sde,ode \
  -samples "$SAMPLES" -n 64 -threads 2 -no-progress -ar=false -out-md "$OUT/steps.md" -out-png "$OUT/steps.png" -out-samples "$OUT/steps-samples.txt" -json > "$OUT/steps.json"
echo "done: $OUT/rows.md, $OUT/steps.md, weights/tencdm-ablations.png"
