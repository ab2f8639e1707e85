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

// The context is the first request's: env is the same for every request of an isolate,
// and the Go side never uses ctx (waitUntil would attach to that first request).
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

// One request at a time inside Go. Go's scheduler runs any goroutine whenever JavaScript
// calls in, so with two requests in flight Go would read one request's body or build its
// response stream while running on behalf of the other, and Workers refuse I/O across
// requests ("Cannot perform I/O on behalf of a different request"). A request's turn
// lasts until its response body has been read to the end or abandoned. A waiting request
// polls on its own timer: waiting on a promise that another request resolves counts as
// hung in Workers. If a turn's request is torn down without releasing it, the turn lapses
// after LEASE_MS. The CPU is one thread either way, so this costs no throughput.
const LEASE_MS = 60000;
let held = 0; // when the current turn started (Date.now()), 0 when free

async function acquire() {
  for (let wait = 1; held && Date.now() - held < LEASE_MS; wait = Math.min(2 * wait, 8)) {
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  held = Date.now() || 1;
  let released = false;
  return () => {
    if (!released) {
      released = true;
      held = 0;
    }
  };
}

export default {
  async fetch(request, env, ctx) {
    const binding = await start(env, ctx);
    const release = await acquire();
    let res;
    try {
      res = await binding.handleRequest(request);
    } catch (e) {
      release();
      throw e;
    }
    if (!res.body) {
      release();
      return res;
    }
    const { readable, writable } = new TransformStream();
    res.body.pipeTo(writable).catch(() => {}).finally(release);
    return new Response(readable, res);
  },
};
