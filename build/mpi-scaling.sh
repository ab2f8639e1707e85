#!/usr/bin/env bash
# Throughput of the demo run (model, batch 16 x 128) on this machine as 1 process x 2
# threads and as 2 processes x 1 thread (mpirun, loopback TCP), alternated ROUNDS times
# because the machine is shared; then the projected efficiency of data-parallel training
# on 4, 16 and 64 machines: each machine keeps the batch of 16 (the global batch grows
# with N), its compute time per step is the measured 1 x 2 one, and a ring all-reduce of
# the gradient arena sends 2(N-1)/N x its bytes per machine per step over 10 Gb/s:
#   efficiency = t_compute / (t_compute + 2(N-1)/N x bytes x 8 / 10e9)
# (no overlap of the all-reduce with the backward pass, latency not counted).
#   build/mpi-scaling.sh                      (STEPS=20 ROUNDS=3: 5-15 minutes here)
#   build/mpi-scaling.sh project SECONDS PARAMS   (only the projection, for a compute time
#                                              per step measured elsewhere, e.g. make bench)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-20}
ROUNDS=${ROUNDS:-3}
GBITS=${GBITS:-10}

# project SECONDS PARAMS: the efficiency table for a compute time per step and an arena
project() {
  awk -v t="$1" -v params="$2" -v gbits="$GBITS" 'BEGIN {
    bytes = 4 * params
    printf "compute %.3f s per step, gradient arena %d parameters = %.1f MB, %g Gb/s\n", t, params, bytes / 1e6, gbits
    printf "%8s %14s %14s %10s\n", "machines", "sent/machine", "all-reduce", "efficiency"
    n = split("2 4 16 64", ns, " ")
    for (i = 1; i <= n; i++) {
      N = ns[i]; sent = 2 * (N - 1) / N * bytes; c = sent * 8 / (gbits * 1e9)
      printf "%8d %11.1f MB %12.1f ms %9.1f%%\n", N, sent / 1e6, c * 1e3, 100 * t / (t + c)
    }
  }'
}
if [ "${1:-}" = project ]; then
  project "$2" "$3"
  exit
fi
mkdir -p runs build/.bin
go build -o build/.bin/train ./core/cmd/train
WORK=$(mktemp -d "$PWD/runs/mpi-scaling.XXXX")
ARGS=(-no-progress -steps "$STEPS" -warmup 2 -log-every 5 -eval-every 0 -eval-tokens 2048 -checkpoint-every 0)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# tokps DIR: tokens/s of each logged interval after the first (start-up excluded)
tokps() { grep -o '"step":[0-9]*,"loss".*"tokens_per_s":[0-9.e+]*' "$1/metrics.jsonl" |
  awk -F'"tokens_per_s":' '{ split($1, a, /[:,]/); if (a[2] > 5) print $2 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for r in $(seq "$ROUNDS"); do
  GOMAXPROCS=2 build/.bin/train "${ARGS[@]}" -threads 2 -out "$WORK/p1t2-$r" 2> "$WORK/p1t2-$r.log"
  mpirun --bind-to none -np 2 -x GOMAXPROCS=1 --mca btl self,tcp --mca btl_tcp_if_include lo \
    --mca oob_tcp_if_include lo build/.bin/train -dist mpi "${ARGS[@]}" -threads 1 -out "$WORK/p2t1-$r" 2> "$WORK/p2t1-$r.log"
  echo "round $r: 1x2 $(tokps "$WORK/p1t2-$r" | median) tok/s, 2x1 $(tokps "$WORK/p2t1-$r" | median) tok/s"
done
one=$(for r in $(seq "$ROUNDS"); do tokps "$WORK/p1t2-$r"; done | median)
two=$(for r in $(seq "$ROUNDS"); do tokps "$WORK/p2t1-$r"; done | median)
params=$(grep -o 'mdm: [0-9]* parameters' "$WORK/p1t2-1.log" | grep -o '[0-9]*')
awk -v one="$one" -v two="$two" 'BEGIN {
  printf "median tokens/s: 1 process x 2 threads %.0f, 2 processes x 1 thread %.0f, ratio %.2f\n", one, two, two / one }'
project "$(awk -v one="$one" 'BEGIN { print 16 * 128 / one }')" "$params"
echo "runs in $WORK"
