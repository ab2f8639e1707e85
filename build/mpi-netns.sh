#!/usr/bin/env bash
# Data-parallel training across two "hosts" on one machine: two network namespaces joined
# by a veth pair (10.99.0.1/24 and 10.99.0.2/24, private test addresses), Open MPI's
# launcher pointed at a script that runs its daemon inside the other namespace instead of
# ssh, and TCP restricted to the veth subnet. It trains a small model on 2 ranks (one per
# namespace), then the same run on 2 ranks over loopback, and checks that both wrote the
# same weights to the byte (the same two partial sums, added in the same order); the veth
# byte counters show the traffic. Everything is torn down on exit (trap).
#   sudo build/mpi-netns.sh            (root: ip netns; STEPS=20 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-20}
NS_A=tdiff-a NS_B=tdiff-b IP_A=10.99.0.1 IP_B=10.99.0.2 NET=10.99.0.0/24
[ "$(id -u)" = 0 ] || { echo "mpi-netns: needs root (ip netns)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi-netns: mpirun missing (apt-get install openmpi-bin libopenmpi3)" >&2; exit 1; }

mkdir -p runs build/.bin
go build -o build/.bin/train ./core/cmd/train
WORK=$(mktemp -d "$PWD/runs/mpi-netns.XXXX")

cleanup() {
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true # takes the veth pair with it
}
trap cleanup EXIT
cleanup
ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add tdva netns "$NS_A" type veth peer name tdvb netns "$NS_B"
ip -n "$NS_A" addr add "$IP_A/24" dev tdva
ip -n "$NS_B" addr add "$IP_B/24" dev tdvb
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set tdva up
ip -n "$NS_B" link set tdvb up

# The launcher: Open MPI calls it as it would call ssh, "agent HOST COMMAND...". It runs the
# command in HOST's namespace with its own host name (a UTS namespace), so each rank's
# "dist: rank r of n, ... host H" line says where it ran.
cat > "$WORK/agent.sh" <<AGENT
#!/bin/sh
host=\$1; shift
case \$host in
  $IP_A) ns=$NS_A ;;
  $IP_B) ns=$NS_B ;;
  *) echo "agent: unknown host \$host" >&2; exit 1 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c 'hostname "\$0"; exec sh -c "\$1"' "\$ns" "\$*"
AGENT
chmod +x "$WORK/agent.sh"

ARGS=(-threads 1 -no-progress -dim 64 -layers 2 -heads 4 -hidden 128 -seq-len 64 -batch 8
      -steps "$STEPS" -warmup 2 -log-every 5 -eval-every 0 -eval-tokens 2048)
MPI=(--allow-run-as-root --bind-to none -x GOMAXPROCS=1 --mca btl self,tcp)
counters() { # bytes sent by each end of the veth pair
  echo "$(ip netns exec "$NS_A" cat /sys/class/net/tdva/statistics/tx_bytes) $(ip netns exec "$NS_B" cat /sys/class/net/tdvb/statistics/tx_bytes)"
}

read -r a0 b0 < <(counters)
echo "== 2 ranks on 2 hosts: $IP_A ($NS_A) and $IP_B ($NS_B)"
ip netns exec "$NS_A" unshare --uts sh -c 'hostname "$0"; exec "$@"' "$NS_A" \
  mpirun "${MPI[@]}" -np 2 --host "$IP_A:1,$IP_B:1" --mca plm_rsh_agent "$WORK/agent.sh" \
  --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" \
  build/.bin/train -dist mpi "${ARGS[@]}" -out "$WORK/hosts"
read -r a1 b1 < <(counters)
echo "veth bytes sent: $IP_A $((a1 - a0)), $IP_B $((b1 - b0))"

echo "== the same run, 2 ranks over loopback"
mpirun "${MPI[@]}" --oversubscribe -np 2 --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo \
  build/.bin/train -dist mpi "${ARGS[@]}" -out "$WORK/loopback"

if cmp "$WORK/hosts/model.ckpt" "$WORK/loopback/model.ckpt"; then
  echo "PASS: the two-host run's weights equal the loopback run's to the byte ($WORK)"
else
  echo "FAIL: the two-host and loopback runs' weights differ ($WORK)" >&2
  exit 1
fi
