# workerd.capnp runs the edge worker on plain workerd (make edge-dev and the end-to-end
# test), with static.mjs standing in for Cloudflare's static-assets layer. build.sh
# copies it next to what it embeds (worker/ and static.mjs); run it from there:
#
#   workerd serve workerd.capnp --socket-addr http=127.0.0.1:8787 --directory-path files=$PWD/assets
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "front", worker = .front),
    (name = "assets", worker = .assets),
    (name = "edge", worker = .edge),
    (name = "files", disk = (path = "assets", writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "front")],
);

# What a visitor reaches: assets first, the worker for everything else.
const front :Workerd.Worker = (
  modules = [(name = "static.mjs", esModule = embed "static.mjs")],
  bindings = [(name = "FILES", service = "files"), (name = "WORKER", service = "edge")],
  compatibilityDate = "2026-11-01",
);

# The worker's ASSETS binding: assets only.
const assets :Workerd.Worker = (
  modules = [(name = "static.mjs", esModule = embed "static.mjs")],
  bindings = [(name = "FILES", service = "files")],
  compatibilityDate = "2026-11-01",
);

const edge :Workerd.Worker = (
  modules = [
    (name = "main.mjs", esModule = embed "worker/main.mjs"),
    (name = "wasm_exec.js", esModule = embed "worker/wasm_exec.js"),
    (name = "app.wasm", wasm = embed "worker/app.wasm"),
    (name = "simd.wasm", wasm = embed "worker/simd.wasm"),
  ],
  bindings = [(name = "ASSETS", service = "assets"), (name = "TDIFF_CPU_MS", text = "30000")],
  compatibilityDate = "2026-11-01",
);
