#!/usr/bin/env bash
# Trains the two released models side by side, one core each: the masked diffusion model
# (austen-mdm) and the autoregressive baseline (austen-ar), same size, data, batch and
# steps. Safe to run again after a crash or a reboot: each run resumes from its checkpoint.
# Then writes the release files into weights/ (f32, q8_0, q4_0).
#   STEPS=1800 build/train-demo.sh        (default; about 65-80 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1800}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS" build/.bin
go build -o build/.bin/train ./core/cmd/train

train() { # objective
  local out="$RUNS/demo-$1"
  local args=(-objective "$1" -steps "$STEPS" -batch 16 -eval-every 200 -eval-tokens 8192
    -checkpoint-every 50 -threads 1 -out "$out" -no-progress)
  if [ -f "$out/checkpoint.ckpt" ]; then args+=(-resume); fi
  GOMAXPROCS=1 build/.bin/train "${args[@]}" >>"$RUNS/demo-$1.log" 2>&1
}
train mdm & pm=$!
train ar & pa=$!
wait $pm
wait $pa

go build -o build/.bin/quantize ./core/cmd/quantize
for obj in mdm ar; do
  cp "$RUNS/demo-$obj/model.ckpt" "weights/austen-$obj.f32.ckpt"
  for q in q8_0 q4_0; do
    build/.bin/quantize -in "weights/austen-$obj.f32.ckpt" -out "weights/austen-$obj.$q.ckpt" -type "$q"
  done
  cp "$RUNS/demo-$obj/loss.png" "weights/austen-$obj.loss.png"
done
echo "release files written to weights/"
