// node_exec.cjs: see node_exec.sh.
"use strict";
const path = require("path");
// Node 20 validates relaxed SIMD (the kernel's fused flavour, which browsers take) only
// behind a flag; later versions have it on.
if (Number(process.versions.node.split(".")[0]) < 22) require("v8").setFlagsFromString("--experimental-wasm-relaxed-simd");
globalThis.require = require;
globalThis.fs = require("fs");
globalThis.path = path;
globalThis.TextEncoder = require("util").TextEncoder;
globalThis.TextDecoder = require("util").TextDecoder;
globalThis.performance ??= require("perf_hooks").performance;
globalThis.crypto ??= require("crypto");
const goroot = require("child_process").execFileSync("go", ["env", "GOROOT"]).toString().trim();
require(path.join(goroot, "lib", "wasm", "wasm_exec.js"));

const go = new Go();
go.argv = process.argv.slice(2);
go.env = Object.assign({ TMPDIR: require("os").tmpdir() }, process.env);
go.exit = process.exit;
WebAssembly.instantiate(fs.readFileSync(process.argv[2]), go.importObject).then((result) => {
  globalThis.tdiffMemory = result.instance.exports.mem;
  process.on("exit", (code) => {
    if (code === 0 && !go.exited) { go._pendingEvent = { id: 0 }; go._resume(); }
  });
  return go.run(result.instance);
}).catch((err) => { console.error(err); process.exit(1); });
