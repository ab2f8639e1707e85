// main.mjs is the worker's entry module: it replaces the worker.mjs that
// github.com/syumai/workers' workers-assets-gen writes, which starts a fresh Go instance
// for every request (~6-10 ms each, and the model would be loaded again every time).
// Here an isolate starts the Go program (wasm/edge) once, at its first request, and
// every request after that goes to the same instance, with the model it has loaded.
//
// Workers refuse to compile WebAssembly at run time, so both modules are imported
// precompiled: app.wasm (Go) and simd.wasm (the SIMD matrix kernel, wasm/simd). The Go
// side reads the runtime context (globalThis.context, which the generated wasm_exec.js
// shows it) for env, the binding object it registers handleRequest on, the kernel module
// and its own memory, on which the kernel is instantiated.
import "./wasm_exec.js";
import app from "./app.wasm";
import simd from "./simd.wasm";

let started; // Promise of the binding object of the running Go instance

function start(env, ctx) {
  if (!started) {
    started = new Promise((resolve, reject) => {
      const go = new Go();
      const context = { env, ctx, binding: {}, simd };
      const instance = new WebAssembly.Instance(app, {
        ...go.importObject,
        workers: { ready: () => resolve(context.binding) },
      });
      context.memory = instance.exports.mem;
      go.run(instance, context)
        .catch((e) => console.error("edge: Go instance failed:", e))
        .finally(() => {
          // The program ended (it never should): the next request starts a new one.
          started = undefined;
          reject(new Error("the Go instance exited before it was ready"));
        });
    });
  }
  return started;
}

export default {
  async fetch(request, env, ctx) {
    const binding = await start(env, ctx);
    return binding.handleRequest(request);
  },
};
