#!/usr/bin/env bash
# Old against new training speed in one run: builds build/abstep in a base revision's tree
# and in the working tree, runs them in turns (ROUNDS rounds of 8 steps each, so a busy
# machine weighs on both alike) and compares them with benchstat: wall time, CPU time,
# tokens/s and tokens per CPU-second, medians with confidence intervals.
#   build/bench-ab.sh                 (base 240b5a0, the code before issue 16; 8 rounds)
#   BASE=HEAD~3 ROUNDS=4 build/bench-ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${BASE:-240b5a0}
ROUNDS=${ROUNDS:-8}
out=runs/bench-ab
rm -rf "$out"
mkdir -p "$out/base/build/abstep"
git archive "$BASE" | tar -x -C "$out/base"
cp build/abstep/main.go "$out/base/build/abstep/"
(cd "$out/base" && go build -o ../old ./build/abstep)
go build -o "$out/new" ./build/abstep
: >"$out/old.txt"
: >"$out/new.txt"
for i in $(seq "$ROUNDS"); do
	"$out/old" 8 >>"$out/old.txt"
	"$out/new" 8 >>"$out/new.txt"
	echo "round $i of $ROUNDS: $(uptime)" >&2
done
go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out/old.txt" "$out/new.txt"
