#!/usr/bin/env bash
# Trains and releases the continuous diffusion model (TEncDM) weights/austen-tencdm.q8_0.ckpt
# on the latents of the released masked model weights/austen-mdm.q8_0.ckpt (its encoder,
# frozen; the release file refers to it by SHA-256 instead of holding it). Resumable: each
# stage resumes from its checkpoint, and a finished stage is skipped.
#   1. the latents' statistics over the five training books (encstats);
#   2. the decoder: 2 blocks + head, cross-entropy from z_t, t ~ U[0, 0.15]
#      (DEC_STEPS x 16 x 128 tokens);
#   3. the denoiser: the masked model's shape (6 blocks, 256 wide) reading latents, time
#      embedding, self-conditioning, tan-d (d = 9), a clean prompt on half the sequences
#      (DEN_STEPS x 16 x 128 tokens);
#   4. the decoder attached to the denoiser's files, Q8_0, and the curves into weights/.
#   build/train-tencdm.sh      (defaults DEC_STEPS=800 DEN_STEPS=2000; THREADS=1 per run,
#                               both runs at once: about 110 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DEC_STEPS=${DEC_STEPS:-800}
DEN_STEPS=${DEN_STEPS:-2000}
THREADS=${THREADS:-1}
RUNS=${RUNS:-runs/tencdm}
ENCODER=weights/austen-mdm.q8_0.ckpt
mkdir -p "$RUNS" build/.bin
for c in train encstats quantize; do go build -o build/.bin/$c ./core/cmd/$c; done
[ -f "$RUNS/stats-contextual.json" ] || build/.bin/encstats -model "$ENCODER" -out "$RUNS/stats-contextual.json"
train() { # name, flags... (the flags only start a run; a checkpoint is resumed as it was)
  local name=$1; shift
  local out="$RUNS/$name"
  [ -f "$out/model.ckpt" ] && return
  local args=(-out "$out" -no-progress -threads "$THREADS")
  if [ -f "$out/checkpoint.ckpt" ]; then args+=(-resume); else args+=("$@"); fi
  build/.bin/train "${args[@]}" >> "$RUNS/$name.log" 2>&1
}
common=(-encoder "$ENCODER" -encoder-stats "$RUNS/stats-contextual.json" -eval-every 250 -eval-tokens 8192)
train decoder -objective decoder -layers 2 -steps "$DEC_STEPS" "${common[@]}" &
train release -objective continuous -steps "$DEN_STEPS" "${common[@]}"
wait
# Attach the decoder: resuming at the last step takes no step and rewrites the files.
build/.bin/train -out "$RUNS/release" -resume -no-progress -threads "$THREADS" -decoder "$RUNS/decoder/model.ckpt" >> "$RUNS/release.log" 2>&1
build/.bin/quantize -in "$RUNS/release/model.ckpt" -out weights/austen-tencdm.q8_0.ckpt -type q8_0 -encoder-file "$ENCODER"
cp "$RUNS/release/metrics.jsonl" weights/austen-tencdm.metrics.jsonl
cp "$RUNS/release/loss.png" weights/austen-tencdm.loss.png
cp "$RUNS/decoder/metrics.jsonl" weights/austen-tencdm-decoder.metrics.jsonl
cp "$RUNS/decoder/loss.png" weights/austen-tencdm-decoder.loss.png
echo "released weights/austen-tencdm.q8_0.ckpt"
