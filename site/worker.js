// worker.js runs the Go engine (tdiff.*.wasm) off the page's thread. It fetches the
// weights with byte progress, keeps them in Cache Storage (checked on every load, dropped
// and fetched again when damaged) and answers the page's messages:
//
//   page -> worker  {type: "init", base, noGPU?, testHooks?, model?, oneThread?}  base: URL of the site/ folder;
//                                                     noGPU: why to leave the GPU off;
//                                                     oneThread: no helper threads (?threads=1);
//                                                     model: "continuous" for assets.json's
//                                                     continuous model, else its masked one
//                   {type: "sample", id, request}     request: engine.Request
//                   {type: "cancel"}
//                   {type: "start-gpu"}               start the GPU (the page asks when no sample runs)
//                   {type: "lose-gpu"}                tests: destroy the GPU device (init's testHooks)
//   worker -> page  {type: "choices", choices}        engine.Choices: menus and defaults (from assets.json)
//                   {type: "progress", phase, loaded?, total?, source?}
//                   {type: "notice", text}
//                   {type: "ready", info}             the CPU model is ready; the GPU starts after it
//                   {type: "gpu", info}               the GPU passed or failed its self-test (info.gpuPending false)
//                   {type: "timing", name, start, end} a span of the start-up or of a sample, in
//                                                     ms since the epoch (now()), for the page's timeline
//                   {type: "step", id, step}  {type: "done", id, output}
//                   {type: "error", id?, message, canceled?}
"use strict";

const CACHE = "tdiff-weights-v1";
let base = null;
let booted = null; // Promise of the ready info
let noGPU = "";         // why the page wants the GPU left off, or ""
let testHooks = false; // whether the page may destroy the GPU device (?testhooks=1)
let model = "";        // which of assets.json's models: "" (weights) or "continuous"
let oneThread = false; // whether the page asked for the CPU's products on one thread
let cacheOpened = null; // Promise of the weights' Cache Storage (openCache)

// index.html starts this worker before the page's modules have loaded, named EARLY: it
// boots at once with the defaults (the site's masked model from its own folder, helper
// threads where the page is cross-origin isolated), and the page adopts it only when it
// wants just that (site/client.js); otherwise the page ends it and starts another.
// Until the page's init comes, messages wait here, as nobody listens yet.
const EARLY = "tdiff-early";
let inited = false;
const held = [];
if (self.name === EARLY) {
  base = new URL("./", self.location.href).href;
  booted = start();
}

// start boots the engine; a failure goes to the page as an error without a sample id.
function start() {
  return boot().catch((err) => {
    post({ type: "error", message: String(err && err.message || err) });
    throw err;
  });
}

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "init") {
    testHooks = !!m.testHooks;
    noGPU = m.noGPU || "";
    if (!booted) {
      base = m.base;
      model = m.model || "";
      oneThread = !!m.oneThread;
      booted = start();
    } else if (m.base !== base || (m.model || "") !== model || !!m.oneThread !== oneThread) {
      held.push({ type: "error", message: `the engine's worker started early for ${base} (masked model, threads) but the page asked for ${m.base} (${m.model || "masked"} model${m.oneThread ? ", one thread" : ""})` });
    }
    inited = true;
    for (const h of held.splice(0)) self.postMessage(h);
  } else if (m.type === "sample") {
    runSample(m.id, m.request);
  } else if (m.type === "cancel") {
    if (self.tdiff) self.tdiff.cancel();
  } else if (m.type === "start-gpu") {
    booted.then(() => startGPU(), () => {});
  } else if (m.type === "lose-gpu" && testHooks) {
    if (self.tdiff) self.tdiff.loseGPU();
  }
};

function post(m) {
  if (inited) self.postMessage(m);
  else held.push(m);
}


// now is the time in ms since the epoch at performance.now()'s precision: the worker's
// clock starts later than the page's, so spans travel on the shared one.
function now() { return performance.timeOrigin + performance.now(); }

// span tells the page that name ran from start to end (now() times).
function span(name, start, end = now()) { post({ type: "timing", name, start, end }); }

// startGPU starts the GPU (once): it uploads the weights, compiles its kernels and
// self-tests. It is set when the CPU model is ready; the page asks for it when no sample
// is running ("start-gpu"), and a sample that asks for the GPU starts it at once.
let startGPU = () => {};

async function runSample(id, request) {
  try {
    await booted;
    if (request.backend === "gpu") startGPU();
    const t0 = now();
    let first = true;
    const out = await self.tdiff.sample(JSON.stringify(request), (s) => {
      if (first) { first = false; span("first step", t0); }
      post({ type: "step", id, step: JSON.parse(s) });
    });
    span("sample", t0);
    post({ type: "done", id, output: JSON.parse(out) });
  } catch (err) {
    const message = String(err && err.message || err);
    post({ type: "error", id, message, canceled: message === "sampling canceled" });
  }
}

async function boot() {
  span("worker start", performance.timeOrigin, now());
  const t0 = now();
  const asked = fetch(new URL("assets.json", base), { cache: "no-cache" });
  openCache();
  // Go's glue, while assets.json is on its way, after what lets it run on a shared memory.
  importScripts(new URL("sharedmem.js", base).href, new URL("wasm_exec.js", base).href);
  const assets = await (await asked).json();
  span("assets.json", t0);
  if (!assets.choices) throw new Error("assets.json has no choices (build/site.sh writes them)");
  post({ type: "choices", choices: assets.choices });
  // The weights' download and check run while the engine compiles and starts. The engine
  // (Go's runtime) starts once the weights are on their way, as it holds this thread for a
  // while; its compilation runs on other threads from the start.
  let requested;
  const weightsRequested = new Promise((resolve) => { requested = resolve; });
  const shared = self.crossOriginIsolated && assets.wasmShared && !oneThread ? new URL(assets.wasmShared, base) : null;
  if (!assets.kernel) throw new Error("assets.json names no SIMD kernel (build/site.sh writes it)");
  const engine = startEngine(new URL(assets.wasm, base), shared, assets.kernel, weightsRequested);
  const want = model === "continuous" ? assets.continuous : assets.weights;
  if (!want) throw new Error(`this site has no ${model} model (build/site.sh adds weights/austen-tencdm.q8_0.ckpt when present)`);
  // Every model the site names keeps its copy in the cache; older releases go.
  const current = [assets.weights, assets.continuous].filter(Boolean).map((w) => new URL(w.file, base).href);
  const got = getWeights(new URL(want.file, base).href, want, engine, requested, current);
  // A continuous model's encoder is the masked model, whose release file it refers to
  // rather than holds: the page fetches (or finds cached) that file too.
  const encoder = model === "continuous" ? getWeights(new URL(assets.weights.file, base).href, assets.weights, engine, () => {}, current) : null;
  const [weights, enc] = await Promise.all([got, encoder, engine]);
  post({ type: "progress", phase: "starting" });
  const running = await engine;
  const files = {
    weights: { name: want.name, file: want.file, bytes: want.bytes, source: weights.source },
    wasm: running.shared ? { file: assets.wasmShared, bytes: assets.wasmSharedBytes, gzipBytes: assets.wasmSharedGzipBytes, shared: true }
      : { file: assets.wasm, bytes: assets.wasmBytes, gzipBytes: assets.wasmGzipBytes },
    // Why the engine runs on one thread, if it must: the page's part of the answer (Go's
    // Info adds its own: cpuThreads and cpuThreadsWhy).
    threadsWhy: oneThread ? "the page asked for one (?threads=1)"
      : !self.crossOriginIsolated ? "the page is not cross-origin isolated (no COOP/COEP headers), so it has no shared memory"
      : !assets.wasmShared ? "this site has no shared-memory engine" : running.sharedFailed,
  };
  // getWeights checked the bytes: the engine skips its own hash of them.
  const loading = timedPhases();
  const info = { ...JSON.parse(await self.tdiff.load(weights.bytes, loading, true, enc ? enc.bytes : null)), ...files };
  loading("");
  await Promise.all([weights.stored, enc && enc.stored]);
  info.gpuPending = true; // startGPU below, when the page asks
  post({ type: "ready", info });
  // The GPU takes over from the CPU if it passes its self-test and is faster.
  let started = false;
  startGPU = () => {
    if (started) return;
    started = true;
    const phases = timedPhases();
    self.tdiff.startGPU(phases, noGPU).then((json) => {
      phases("");
      post({ type: "gpu", info: { ...JSON.parse(json), ...files } });
    }, (err) => {
      phases("");
      post({ type: "gpu", info: { ...info, gpuPending: false, fallback: `the GPU did not start: ${err && err.message || err}` } });
    });
  };
  return info;
}

// timedPhases returns the engine's onPhase(phase): it reports the phase to the page and
// ends the current phase's span; onPhase("") only ends it.
function timedPhases() {
  let name = "", start = 0;
  return (phase) => {
    const t = now();
    if (name) span(name, start, t);
    name = phase;
    start = t;
    if (phase) post({ type: "progress", phase });
  };
}

// startEngine compiles and starts the engine: the shared-memory build when shared is its
// URL, else (or when that fails, say where the address space for a shared memory cannot
// be reserved) the plain one, with the SIMD kernel's module for it (kernelFiles). It
// resolves to {shared, sharedFailed}: whether the shared build runs, and why it failed, or "".
async function startEngine(url, shared, kernelFiles, weightsRequested) {
  const go = new Go();
  const ready = new Promise((resolve) => { self.tdiffReady = resolve; });
  const instantiate = async (url) => WebAssembly.instantiate(await compileModule(url), go.importObject);
  let inst, sharedFailed = "";
  const t0 = now();
  let kernel = compileKernel(kernelFiles, !!shared); // small: ready long before the engine
  if (shared) {
    try {
      inst = await instantiate(shared);
    } catch (err) {
      sharedFailed = `the shared-memory engine did not start: ${err && err.message || err}`;
      kernel = compileKernel(kernelFiles, false);
    }
  }
  if (!inst) inst = await instantiate(url);
  // The SIMD kernel (wasm/simd) works on Go's memory in place; Go cannot reach it itself.
  self.tdiffMemory = inst.exports.mem;
  self.tdiffKernel = await kernel;
  span("wasm fetch and compile", t0);
  await weightsRequested;
  const t1 = now();
  go.run(inst).then(() => post({ type: "error", message: "the engine stopped" }));
  await ready;
  span("engine start", t1);
  return { shared: !!shared && !sharedFailed, sharedFailed };
}

// compileModule compiles the WebAssembly module at url as it streams in, or once
// downloaded from a server that sends .wasm with the wrong MIME type (which breaks
// streaming compilation); a module that does not compile is an error either way.
async function compileModule(url) {
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch (err) {
    if (err instanceof WebAssembly.CompileError) throw err;
    return await WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  }
}

// compileKernel compiles the SIMD kernel's module (build/kernel; files: assets.json's
// kernel) for the engine's memory, shared or not: the fused flavour (relaxed SIMD) where
// the browser takes it, else the plain one. It resolves to {module, fused}, which the
// engine finds as globalThis.tdiffKernel, or to {why} where neither compiles (no
// WebAssembly SIMD: the engine's products then run in Go).
async function compileKernel(files, shared) {
  const tries = shared ? [[files.fusedShared, true], [files.plainShared, false]] : [[files.fused, true], [files.plain, false]];
  let why = "";
  for (const [file, fused] of tries) {
    try {
      return { module: await compileModule(new URL(file, base)), fused };
    } catch (err) {
      why = String(err && err.message || err);
    }
  }
  return { why: `the SIMD kernel did not compile: ${why}` };
}

// check returns "" when bytes are the release file the site names, or what is wrong: the
// file's SHA-256 from assets.json in the browser's own SHA-256 when it has one (native,
// and free of the engine, which may still be compiling), else the engine's checks.
async function check(bytes, want, engine) {
  if (want.bytes && bytes.byteLength !== want.bytes) {
    return `size ${bytes.byteLength} bytes, want ${want.bytes}`;
  }
  if (want.sha256 && self.crypto && crypto.subtle) {
    const t0 = now();
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    span("verify (browser SHA-256)", t0);
    const hex = Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== want.sha256) return "SHA-256 of the file differs from assets.json";
    return "";
  }
  await engine;
  const t0 = now();
  const why = self.tdiff.verify(bytes); // header, manifest and payload SHA-256 (checkpoint.Verify)
  span("verify (engine)", t0);
  return why;
}

// getWeights returns {bytes, source} of the checked release file, from Cache Storage or
// else the network; requested() is called once the bytes are on their way. current: the
// URLs of the release files the site names, whose copies the cache keeps.
// openCache resolves to the weights' Cache Storage, or null where there is none (an
// insecure origin: the weights download each time). boot opens it first thing: on a
// fresh profile opening it takes 20-35 ms, which then pass while assets.json comes.
function openCache() {
  if (!cacheOpened) cacheOpened = self.caches ? caches.open(CACHE).catch(() => null) : Promise.resolve(null);
  return cacheOpened;
}

async function getWeights(url, want, engine, requested, current) {
  const cache = await openCache();
  if (cache) {
    const hit = await cache.match(url);
    requested(); // the engine starts once this turn has asked for the body (reading it, or the network)
    if (hit) {
      let bytes = null, why;
      try {
        const got = { buf: new Uint8Array(want.bytes || 0), n: 0 };
        const report = reporter("cache", want.bytes);
        const t0 = now();
        await readInto(hit, got, report);
        report(got.n, true);
        span("weights from the cache", t0);
        bytes = got.n === got.buf.byteLength ? got.buf : got.buf.slice(0, got.n);
        post({ type: "progress", phase: "checking cached weights" });
        why = await check(bytes, want, engine);
      } catch (err) {
        why = String(err && err.message || err);
      }
      if (!why) {
        post({ type: "progress", phase: "download", loaded: bytes.byteLength, total: bytes.byteLength, source: "cache" });
        return { bytes, source: "cache" };
      }
      post({ type: "notice", text: `The cached weights were damaged (${why}); downloading them again.` });
      await cache.delete(url);
    }
  }
  requested();
  const t0 = now();
  const bytes = await download(url, want.bytes);
  span("weights download", t0);
  const why = await check(bytes, want, engine);
  if (why) throw new Error(`downloaded weights are damaged: ${why}`);
  // Stored while the engine decodes them: the page is ready once both are done.
  return { bytes, source: "network", stored: cache ? keep(cache, url, bytes, current) : null };
}

// keep stores the release file in Cache Storage and drops older releases' files.
async function keep(cache, url, bytes, current) {
  const t0 = now();
  try {
    await cache.put(url, new Response(bytes, { headers: { "Content-Type": "application/octet-stream", "Content-Length": String(bytes.byteLength) } }));
    for (const req of await cache.keys()) {
      if (!current.includes(req.url)) await cache.delete(req); // older releases
    }
  } catch (_) { /* quota: the next visit downloads again */ }
  span("weights to the cache", t0);
}

// RESUMES is how many times a download that breaks off is taken up again.
const RESUMES = 4;

// download fetches the weights with byte progress. A transfer that breaks off (a dropped
// connection, a body shorter than announced) resumes where it stopped with a Range
// request, or starts again from the first byte when the server answers with the whole
// file; the caller's checks (size, SHA-256, manifest) then judge what arrived.
async function download(url, expected) {
  const got = { buf: new Uint8Array(expected || 0), n: 0 };
  let total = expected || 0;
  for (let tries = 0; ; tries++) {
    try {
      // The copy in Cache Storage is the cache: skip the HTTP cache to keep one copy on disk.
      const resp = await fetch(url, { cache: "no-store", headers: got.n ? { Range: `bytes=${got.n}-` } : {} });
      if (!resp.ok) {
        const err = new Error(`weights: HTTP ${resp.status} for ${url}`);
        err.final = true; // the server said no: asking again will not help
        throw err;
      }
      if (resp.status !== 206) { // the whole file, from a fresh start or a server without Range
        got.n = 0;
        total = Number(resp.headers.get("Content-Length")) || expected || 0;
      }
      const report = reporter("network", total);
      await readInto(resp, got, report);
      if (total && got.n < total) throw new Error(`the transfer ended at byte ${got.n} of ${total}`);
      report(got.n, true);
      return got.n === got.buf.byteLength ? got.buf : got.buf.slice(0, got.n);
    } catch (err) {
      if (err.final || tries >= RESUMES) throw err;
      post({ type: "notice", text: `The weights' download broke off at ${got.n} of ${total || "?"} bytes (${err && err.message || err}); resuming.` });
      await new Promise((r) => setTimeout(r, 250 * (tries + 1)));
    }
  }
}

// reporter returns progress(loaded, force) that posts the weights' progress from source
// ("network" or "cache") at most every 50 ms unless forced.
function reporter(source, total) {
  let last = -Infinity;
  return (loaded, force) => {
    const now = performance.now();
    if (!force && now - last <= 50) return;
    last = now;
    post({ type: "progress", phase: "download", loaded, total: total || loaded, source });
  };
}

// readInto appends a response's body to got.buf from byte got.n, growing the buffer as
// needed and keeping got.n current, so that a caller whose read fails knows where it got
// to; progress(got.n) follows each chunk.
async function readInto(resp, got, progress) {
  const put = (b) => {
    if (got.n + b.byteLength > got.buf.byteLength) got.buf = grow(got.buf, Math.max(2 * got.buf.byteLength, got.n + b.byteLength), got.n);
    got.buf.set(b, got.n);
    got.n += b.byteLength;
    progress(got.n);
  };
  if (!resp.body) { put(new Uint8Array(await resp.arrayBuffer())); return; }
  const reader = resp.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    put(value);
  }
}

// grow returns a buffer of size bytes holding the first n bytes of buf.
function grow(buf, size, n) {
  const bigger = new Uint8Array(size);
  bigger.set(buf.subarray(0, n));
  return bigger;
}
