// client.js talks to the engine's Web Worker: one worker (one model in memory) per page,
// shared by the demo and every <diffusion-demo> on it.

/** Resolves the site/ folder this module was loaded from. */
const BASE = new URL("./", import.meta.url);

function makeWorker(model, oneThread) {
  const url = new URL("worker.js", BASE);
  // index.html starts the worker before the page's modules load ({worker, url}): it boots
  // with the defaults at once (see worker.js), so it serves a page that wants just them.
  const early = self.tdiffEarlyWorker;
  self.tdiffEarlyWorker = null;
  if (early && early.url === url.href && !model && !oneThread) return early.worker;
  if (early) early.worker.terminate();
  if (url.origin === location.origin) return new Worker(url);
  // A page on another origin cannot start our worker directly; a same-origin blob that
  // imports it can (the server sends the CORS headers the worker's fetches need).
  const src = `importScripts(${JSON.stringify(url.href)});`;
  return new Worker(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
}

// A sample on the GPU and the engine's GPU start-up (which runs beside the first samples
// on the CPU) mark themselves in localStorage before their first dispatch; the mark goes
// when both have ended (done, error or cancel) or the page goes away. A mark found at
// start-up means the tab died mid-run, as mobile browsers do to tabs that exhaust GPU
// memory (and then reload them silently): that visit leaves the GPU off (its weights
// alone may be what used the memory up) and samples on the CPU, unless the page was opened
// with ?backend=gpu; a GPU run that ends cleanly removes the mark.
const RUN_MARK = "tdiff-gpu-run";
export const CRASH_NOTICE = "The last visit stopped while sampling on the GPU; running on the CPU.";

function storage() {
  try { return self.localStorage || null; } catch (_) { return null; } // blocked in some iframes
}

export class DiffusionClient {
  /** model: "" for the site's masked model, "continuous" for its continuous one. */
  constructor(model = "") {
    this.model = model;
    const store = storage();
    this.gpuCrashed = !!(store && store.getItem(RUN_MARK)); // the last visit died on the GPU
    this.gpuSkipped = this.gpuCrashed && new URLSearchParams(self.location.search).get("backend") !== "gpu";
    this.gpuAsked = false; // whether the worker was told to start the GPU (idle)
    this.gpuBusy = new Set(); // what uses the GPU now: "start" (upload, self-test), "sample"
    addEventListener("pagehide", () => { if (this.gpuBusy.size) { this.gpuBusy.clear(); this.markGPURun("", false); } });
    this.listeners = new Set(); // (message) => void, for load progress and notices
    this.jobs = new Map();      // id -> {resolve, reject, onStep}
    this.nextID = 1;
    this.info = null;
    // spans is the timeline of the start-up and the samples: {name, start, end} in seconds
    // after the page's navigation, from the worker's "timing" messages and mark().
    this.spans = [];
    this.loadError = null;
    this.worker = null;
    this.ready = null;
    this.queue = Promise.resolve(); // samples run one at a time
    this.gotChoices = new Promise((resolve, reject) => { this.resolveChoices = resolve; this.rejectChoices = reject; });
    this.gotChoices.catch(() => {}); // a failed load is reported by load()
  }

  /**
   * choices resolves with the engine's menus and defaults (engine.Choices: strategies,
   * grids, confidences, blank, defaults) once the engine runs, before the weights are in.
   */
  choices() {
    this.load().catch(() => {});
    return this.gotChoices;
  }

  /** load starts the worker (once) and resolves with the model and backend info. */
  load() {
    if (this.ready) return this.ready;
    this.ready = new Promise((resolve, reject) => {
      const params = new URLSearchParams(self.location.search);
      // ?threads=1 keeps the CPU's products on one thread (to compare, or to spare a busy machine).
      const oneThread = params.get("threads") === "1";
      this.worker = makeWorker(this.model, oneThread);
      this.worker.onmessage = (ev) => {
        const m = ev.data;
        // The weights' upload and the self-test use the GPU too: they carry the mark from
        // core/engine's "starting GPU" phase until the GPU passed or failed (or the engine died).
        if (m.type === "progress" && m.phase === "starting GPU" && !this.gpuSkipped) this.markGPURun("start", true);
        if (m.type === "gpu" || m.type === "error" && !m.id) this.markGPURun("start", false);
        if (m.type === "choices") {
          this.resolveChoices(m.choices);
        } else if (m.type === "timing") {
          this.mark(m.name, m.start, m.end);
        } else if (m.type === "ready") {
          this.info = m.info;
          resolve(m.info);
          this.idle();
        } else if (m.type === "gpu") {
          this.info = m.info; // the GPU's outcome: later samples' default backend
        } else if (m.type === "error" && !m.id) {
          this.loadError = m.message;
          reject(new Error(m.message));
          this.rejectChoices(new Error(m.message));
        } else if (m.id && this.jobs.has(m.id)) {
          const job = this.jobs.get(m.id);
          if (m.type === "step") job.onStep && job.onStep(m.step);
          else if (m.type === "done") { this.jobs.delete(m.id); job.resolve(m.output); this.idle(); }
          else if (m.type === "error") {
            this.jobs.delete(m.id);
            this.idle();
            const err = new Error(m.message);
            err.canceled = !!m.canceled;
            job.reject(err);
          }
        }
        for (const f of this.listeners) f(m);
        if (m.type === "ready" && this.gpuSkipped) {
          for (const f of this.listeners) f({ type: "notice", text: CRASH_NOTICE, gpuCrashed: true });
        }
      };
      this.worker.onerror = (ev) => {
        const msg = ev.message || "the engine's worker failed to start";
        this.loadError = msg;
        reject(new Error(msg));
        this.rejectChoices(new Error(msg));
        for (const f of this.listeners) f({ type: "error", message: msg });
      };
      const testHooks = params.get("testhooks") === "1";
      const noGPU = this.gpuSkipped ? "left off: the last visit stopped while sampling on the GPU" : "";
      this.worker.postMessage({ type: "init", base: BASE.href, noGPU, testHooks, model: this.model, oneThread });
    });
    return this.ready;
  }

  /**
   * mark adds a span to the timeline; start and end are ms since the epoch
   * (performance.timeOrigin + performance.now(), the clock workers and pages share).
   */
  mark(name, start, end = performance.timeOrigin + performance.now()) {
    const s = (ms) => (ms - performance.timeOrigin) / 1000;
    this.spans.push({ name, start: s(start), end: s(end) });
  }

  /**
   * idle asks the worker to start the GPU once no sample runs: after the samples asked for
   * while loading (autorun, a click), which run on the CPU meanwhile. Started beside a
   * sample on the CPU, the GPU's start slowed that sample by half on a 2-core machine with
   * a software GPU (build/e2e TestFirstSample). A sample that asks for the GPU starts it
   * at once. The check waits a task, for a sample requested in the microtasks after ready.
   */
  idle() {
    if (this.gpuAsked) return;
    setTimeout(() => {
      if (this.gpuAsked || this.jobs.size) return;
      this.gpuAsked = true;
      this.worker.postMessage({ type: "start-gpu" });
    });
  }

  /** on registers a listener for worker messages (progress, notice, ready, error). */
  on(f) { this.listeners.add(f); return () => this.listeners.delete(f); }

  /**
   * sample runs a request ({mode, prompt, length, steps, strategy, temperature, seed, ...};
   * a field left out takes the engine's default, see choices()) and calls onStep with each
   * step's snapshot; it waits for earlier samples to finish.
   */
  sample(request, onStep) {
    const run = async () => {
      await this.load();
      const req = { ...request };
      if (!req.backend && this.gpuCrashed) req.backend = "cpu";
      const gpu = req.backend === "gpu" || !req.backend && this.info.gpu;
      const id = this.nextID++;
      if (gpu) this.markGPURun("sample", true);
      try {
        return await new Promise((resolve, reject) => {
          this.jobs.set(id, { resolve, reject, onStep });
          this.worker.postMessage({ type: "sample", id, request: req });
        });
      } finally {
        if (gpu) this.markGPURun("sample", false);
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /**
   * markGPURun notes that what ("start" or "sample") began or stopped using the GPU, and
   * sets the run-in-progress mark (see RUN_MARK) while anything does.
   */
  markGPURun(what, on) {
    if (on) this.gpuBusy.add(what);
    else this.gpuBusy.delete(what);
    const store = storage();
    if (!store) return;
    try {
      if (this.gpuBusy.size) store.setItem(RUN_MARK, new Date().toISOString());
      else store.removeItem(RUN_MARK);
    } catch (_) { /* quota or private mode: no crash detection this visit */ }
  }

  /**
   * loseGPU destroys the engine's GPU device, as a browser does when it reclaims the GPU;
   * the worker obeys only on a page opened with ?testhooks=1. For the page tests.
   */
  loseGPU() { if (this.worker) this.worker.postMessage({ type: "lose-gpu" }); }

  /** cancel stops the running sample; its promise rejects with err.canceled set. */
  cancel() { if (this.worker) this.worker.postMessage({ type: "cancel" }); }
}

const shared = new Map();
/**
 * sharedClient is the page's one client of a model ("" the masked model, "continuous" the
 * continuous one): one worker and one copy of the weights per model in use.
 */
export function sharedClient(model = "") {
  if (!shared.has(model)) shared.set(model, new DiffusionClient(model));
  return shared.get(model);
}

/** State codes of a snapshot's positions (core/engine). */
export const GIVEN = 0, MASKED = 1, WRITTEN = 2, COMMITTED = 3, END = 4, ACCEPTED = 5, CORRECTED = 6;
const CLASS = ["given", "masked", "written", "committed", "end", "accepted", "corrected"];

/**
 * renderPieces shows a snapshot ({texts, states}) in el, one span per position, reusing
 * the spans of the previous snapshot so that only what changed is touched.
 */
export function renderPieces(el, pieces) {
  const { texts, states } = pieces;
  while (el.childElementCount > texts.length) el.lastElementChild.remove();
  while (el.childElementCount < texts.length) el.appendChild(document.createElement("span"));
  let i = 0;
  for (const span of el.children) {
    const cls = "tok " + CLASS[states[i]] + (texts[i].includes("\n") && states[i] !== MASKED ? " nl" : "");
    if (span.className !== cls) span.className = cls;
    const text = states[i] === MASKED || states[i] === END ? "" : texts[i];
    if (span.textContent !== text) span.textContent = text;
    i++;
  }
}

/** formatRate renders a rate with two or three significant digits. */
export function formatRate(x) {
  if (!(x > 0)) return "0";
  if (x >= 100) return x.toFixed(0);
  if (x >= 1) return x.toFixed(1);
  return x.toPrecision(2);
}

/** formatBytes renders a byte count for people. */
export function formatBytes(n) {
  if (n == null) return "?";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

// LAG is how many snapshots the Player keeps waiting: at its pace of one every 60 ms, the
// view lags the engine by at most 0.12 s (8 made the first sample end 0.4 s after it).
const LAG = 2;

/**
 * Player shows snapshots at a pace people can follow: at most one every minMs, the last
 * one always. done() resolves once the queue has drained.
 */
export class Player {
  constructor(show, minMs = 60) {
    this.show = show;
    this.minMs = minMs;
    this.queue = [];
    this.timer = null;
    this.last = 0;
    this.waiters = [];
  }
  push(snapshot) {
    this.queue.push(snapshot);
    this.pump();
  }
  pump() {
    if (this.timer || !this.queue.length) {
      if (!this.timer && !this.queue.length) { for (const w of this.waiters.splice(0)) w(); }
      return;
    }
    const wait = Math.max(0, this.last + this.minMs - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.last = performance.now();
      // Drop stale frames when the engine is ahead, but never the newest: the view stays
      // within a frame or two of the engine rather than finish long after it.
      if (this.queue.length > LAG) this.queue.splice(0, this.queue.length - LAG);
      this.show(this.queue.shift());
      this.pump();
    }, wait);
  }
  clear() {
    this.queue = [];
    clearTimeout(this.timer);
    this.timer = null;
    for (const w of this.waiters.splice(0)) w();
  }
  done() {
    if (!this.timer && !this.queue.length) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }
}
