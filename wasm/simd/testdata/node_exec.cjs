// node_exec.cjs: see node_exec.sh.
"use strict";
const path = require("path");
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
