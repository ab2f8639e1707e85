#!/bin/sh
# fuzz.sh runs every fuzz target of the given packages (default: all of
# ./core/...) for FUZZTIME each (default 5m), one after another, and ends with
# a table of results and execution counts. A crasher is kept by go test under
# the package's testdata/fuzz/<target>/: commit it with the fix, so plain
# `go test` replays it from then on.
#
#	build/fuzz.sh                          # everything, 5 minutes each
#	FUZZTIME=60s build/fuzz.sh ./core/checkpoint ./core/safetensors
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5m}
[ $# -gt 0 ] || set -- ./core/...

summary=$(mktemp)
log=$(mktemp)
trap 'rm -f "$summary" "$log"' EXIT
status=0
for pkg in $(go list "$@"); do
	# -list prints the matching names, one a line, then the "ok" line.
	targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
	for t in $targets; do
		echo "== $pkg $t ($FUZZTIME)"
		if go test -run='^$' -fuzz="^$t\$" -fuzztime="$FUZZTIME" "$pkg" >"$log" 2>&1; then
			res=ok
		else
			res=FAIL
			status=1
			cat "$log"
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
		printf '%-4s %-55s %-18s %12s execs\n' "$res" "$pkg" "$t" "${execs:-?}" >>"$summary"
	done
done
echo
cat "$summary"
exit $status
