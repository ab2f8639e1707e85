// bench.js loads one engine, chosen by the query string, for the driver
// (build/benchbrowser/main.go) to time:
//   ?engine=ours&file=model.ckpt&threads=N   our CPU path (ours.wasm; ours-shared.wasm
//                                            with helper threads when N > 1)
//   ?engine=ort&file=model.onnx&threads=N   onnxruntime-web's wasm EP on N threads
// plus n (positions) and vocab. Both engines see the same token ids.
const q = new URLSearchParams(location.search);
const num = (k) => Number(q.get(k));
const [n, vocab] = [num("n"), num("vocab")];
const ids = Array.from({ length: n }, (_, i) => (i * 31) % (vocab - 2));

async function ours() {
  const go = new Go();
  // More than one thread: the shared-memory build, whose helper threads split the products.
  const threads = num("threads") || 1;
  const file = threads > 1 ? "/files/ours-shared.wasm" : "/files/ours.wasm";
  const { instance } = await WebAssembly.instantiateStreaming(fetch(file), go.importObject);
  globalThis.tdiffMemory = instance.exports.mem;
  globalThis.tdiffThreads = threads;
  const ready = new Promise((resolve) => { globalThis.tdiffReady = resolve; });
  go.run(instance);
  await ready;
  const bytes = new Uint8Array(await (await fetch("/files/" + q.get("file"))).arrayBuffer());
  const err = tdiffBench.load(bytes, ids);
  if (err) throw new Error(err);
  const check = (e) => { if (e) throw new Error(e); };
  return { what: tdiffBench.kernel, run: () => check(tdiffBench.forward()), logits: (k) => tdiffBench.logits(k) };
}

async function ort() {
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = num("threads");
  ort.env.wasm.wasmPaths = "/ort/";
  const session = await ort.InferenceSession.create("/files/" + q.get("file"), { executionProviders: ["wasm"] });
  const input = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, n]);
  let last;
  return {
    what: `onnxruntime-web ${ort.env.versions.web}, wasm EP, ${ort.env.wasm.numThreads} thread(s)`,
    run: async () => { last = await session.run({ input_ids: input }); },
    logits: (k) => Array.from(last.logits.data.subarray(0, k)),
  };
}

// The driver calls window.bench.run(k) for the warm-up and again for the timed runs, and
// reads the browser's CPU-time counters around the second call.
try {
  const e = q.get("engine") === "ort" ? await ort() : await ours();
  window.bench = {
    what: e.what,
    isolated: crossOriginIsolated,
    run: async (k) => {
      const times = [];
      for (let i = 0; i < k; i++) {
        const t0 = performance.now();
        await e.run();
        times.push(performance.now() - t0);
      }
      return times;
    },
    logits: e.logits,
  };
  window.benchReady = { what: e.what, isolated: crossOriginIsolated };
} catch (err) {
  window.benchReady = { error: String(err && err.stack || err) };
}
document.getElementById("out").textContent = JSON.stringify(window.benchReady);
