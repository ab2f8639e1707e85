// app.js drives the demo page (index.html): settings, the live view, load progress.
import { sharedClient, renderPieces, formatBytes, formatRate, Player, MASKED, COMMITTED, ACCEPTED, CORRECTED } from "./client.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// model is which of the site's models the page runs: "" the masked model, "continuous" the
// continuous one (TEncDM), chosen by the Model control, which reloads the page with ?model=.
const model = params.get("model") === "continuous" ? "continuous" : "";
const client = sharedClient(model);

const EXAMPLES = {
  continue: "It is a truth universally acknowledged, that",
  infill: "Elizabeth ___ at the letter, and ___ that Mr. Darcy had written it.",
};
// The infill syntax is the engine's (core/infill): the hint names its spellings once the
// engine has said them, and the page sends the text as written.
const HINTS = {
  continue: () => "The model continues your text.",
  infill: (c) => c ? `Write ${c.blank} where the model should write; each blank is the same number of tokens.` :
    "Mark where the model should write.",
};
const KEYS = " <kbd>Ctrl</kbd>+<kbd>Enter</kbd> generates.";

// demo is what tests and curious readers can inspect from the console.
const demo = (window.tdiffDemo = { state: "loading", info: null, output: null, steps: 0, metrics: { spans: client.spans }, notices: [], progress: [] });

const form = $("form"), view = $("view"), prompt = $("prompt");
const controls = ["length", "steps", "temperature"];
let mode = "continue";
let edited = false;
let running = false;
let wantBackend = "";
let choices = null; // the engine's menus and defaults (engine.Choices), once it runs

function setMode(m) {
  mode = m;
  if (!edited) prompt.value = EXAMPLES[m];
  $("prompt-label").textContent = m === "infill" ? "Text with blanks" : "Prompt";
  $("prompt-hint").innerHTML = HINTS[m](choices) + KEYS;
  $("length-label").textContent = m === "infill" ? "Per blank" : "Length";
  syncLimits();
  if (m === "infill" && Number($("length").value) > 16 && !params.has("length") && choices) $("length").value = choices.blankLength;
  if (m === "continue" && Number($("length").value) < 16 && !params.has("length") && choices) $("length").value = choices.defaults.length;
  syncOutputs();
}

// The sampler's controls wait, disabled, for the engine's defaults (a second or two while
// it compiles) rather than show values the engine would not use.
const sampler = ["length", "steps", "temperature", "strategy"];

function syncOutputs() {
  for (const id of controls) $(`${id}-out`).textContent = choices ? $(id).value : "…";
  syncSpec();
}

// window is the model's window in tokens, once it has loaded.
function windowTokens() { return demo.info ? demo.info.config.seq_len : 0; }

// syncLimits sets the length control's range for the mode: a continuation may run past
// the window (the engine writes it in chunks), a blank must fit inside it.
function syncLimits() {
  const L = windowTokens();
  if (model === "continuous") {
    if (L) $("length").max = String(mode === "infill" ? L - 1 : L); // within the window: no chunks
  } else if (mode === "infill") {
    if (L) $("length").max = String(L - 1);
  } else if (choices) {
    $("length").max = String(choices.maxLength);
  }
  if (choices) $("steps").max = String(choices.maxLength);
}

// syncSpec explains the length and enables the speculative switch where the engine can
// sample speculatively: a masked model, within its window.
function syncSpec() {
  const L = windowTokens(), n = Number($("length").value);
  const long = mode === "continue" && L && n > L && model !== "continuous";
  $("length-hint").textContent = mode === "infill" ? "tokens in each blank" :
    long ? `past the ${L}-token window: written in chunks of ${L / 2}, each its own run of steps, so network calls grow with length` :
    "tokens to write";
  const draft = $("draft");
  let why = "";
  if (model === "continuous") why = "Speculative sampling needs a masked diffusion model; this one is continuous.";
  else if (demo.info && demo.info.config.causal) why = "Speculative sampling needs a masked diffusion model; this one writes left to right.";
  else if (long) why = `Speculative sampling works within the model's window (${L} tokens); shorten the text to use it.`;
  draft.disabled = !choices || !!why;
  draft.title = why;
  $("draft-hint").textContent = why || (choices ? `the model's last output drafts K = ${choices.defaultK} steps, checked by one call of the model` :
    "a draft proposes steps, the model checks them in one call");
}

function applyParams() {
  if (params.get("mode") === "infill") document.querySelector('input[name=mode][value=infill]').checked = true;
  if (params.has("seed")) $("seed").value = params.get("seed");
  if (params.has("backend")) wantBackend = params.get("backend");
  if (params.has("seed")) $("reseed").checked = false;
  setMode(params.get("mode") === "infill" ? "infill" : "continue");
  if (params.has("prompt")) { prompt.value = params.get("prompt"); edited = true; }
}

// applyChoices builds the menus from the engine's names and sets each control to the
// URL's value or else the engine's default, the same defaults the command line uses.
function applyChoices(c) {
  choices = c;
  const select = $("strategy");
  select.textContent = "";
  for (const s of c.strategies) select.add(new Option(s.label, s.name));
  const draft = $("draft");
  draft.textContent = "";
  for (const d of c.drafts) draft.add(new Option(d.label, d.name));
  if (params.has("draft")) draft.value = params.get("draft");
  $("stop-eot").checked = params.has("stop") ? params.get("stop") !== "0" : c.defaults.stopAtEOT;
  syncLimits();
  for (const id of sampler) {
    $(id).value = params.has(id) ? params.get(id) : String(c.defaults[id]);
    $(id).disabled = false;
  }
  if (model === "continuous") useContinuous(c);
  setMode(mode);
}

// useContinuous sets the controls for the continuous model: its own default steps (each a
// denoiser call), and the masked samplers' settings off, saying why.
function useContinuous(c) {
  if (!params.has("steps")) $("steps").value = String(c.continuous.steps);
  $("steps-hint").textContent = "denoising steps: one denoiser call each, the text decoded after every step";
  for (const id of ["strategy", "temperature"]) {
    $(id).disabled = true;
    $(id).title = "The continuous model does not use this setting.";
  }
  $("temperature-hint").textContent = "not used: the continuous model draws Gaussian noise, then decodes the likeliest word";
  $("legend").innerHTML = '<span class="tok committed">changed this step</span> <span class="tok given">your text</span>';
}

function setState(s) {
  demo.state = s;
  view.dataset.state = s;
  view.setAttribute("aria-busy", s === "sampling" || s === "loading" ? "true" : "false");
}

function status(text) { $("status").textContent = text; }

function fmtSecs(s) { return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`; }

function showStep(s) {
  renderPieces(view, s);
  if (firstRun && demo.metrics.firstStepSeconds == null) {
    demo.metrics.firstStepSeconds = performance.now() / 1000;
    client.mark("first step shown", firstRun);
    showTimings();
  }
  let masked = 0;
  for (const st of s.states) if (st === MASKED) masked++;
  view.dataset.step = String(s.step);
  view.dataset.masked = String(masked);
  $("s-step").textContent = s.total ? `${s.step} / ${s.total}` : String(s.step);
  showCalls(s.nfe, s.rows);
  const written = s.tokens - masked;
  $("s-tps").textContent = s.seconds > 0 ? formatRate(written / s.seconds) : "–";
  $("s-time").textContent = fmtSecs(s.seconds);
}

// showCalls shows network calls, or the target's calls and rows when sampling speculatively.
function showCalls(nfe, rows) {
  $("s-nfe-label").textContent = rows ? "Target calls" : "Network calls";
  $("s-nfe").textContent = rows ? `${nfe} (${rows} rows)` : String(nfe);
  view.dataset.targetCalls = rows ? String(nfe) : "";
}

function fact(dl, term, value) {
  const div = document.createElement("div");
  const dt = document.createElement("dt"), dd = document.createElement("dd");
  dt.textContent = term; dd.textContent = value;
  div.append(dt, dd); dl.append(div);
}

function showBackend(name) {
  const info = demo.info, b = $("backend");
  const gpu = name === info.gpuName;
  b.textContent = gpu ? `WebGPU · ${name}` : name;
  b.classList.toggle("gpu", gpu);
  b.title = gpu ? `WebGPU, self-test max logit difference ${info.selfTestDiff.toExponential(1)}` :
    `The CPU runs the model${info.fallback ? ": " + info.fallback : ""}`;
}

// matmulFact says which matmul kernel the GPU runs and why: one forward pass with each,
// timed at load.
function matmulFact(info) {
  const name = { tiled: "tiled (workgroup memory)", registers: "register-blocked" };
  const k = info.matmulKernel, s = info.matmulSeconds;
  if (!s) return `${name[k] || k} kernel`;
  const other = k === "tiled" ? "registers" : "tiled";
  const ms = (x) => `${(s[x] * 1000).toFixed(0)} ms`;
  return `${name[k]} kernel: ${ms(k)} for a ${info.matmulPositions}-position pass at load, ${name[other]} ${ms(other)}`;
}

function showInfo(info) {
  showBackend(info.backend);
  const choice = $("backend-choice");
  const [fastest, gpuOpt] = choice.options;
  fastest.textContent = `Fastest: ${info.gpu ? "WebGPU" : "CPU"}`;
  // While the GPU starts (beside the first samples on the CPU) it may be asked for: the
  // sample waits for it.
  gpuOpt.disabled = !info.gpuName && !client.gpuSkipped && !info.gpuPending;
  gpuOpt.textContent = info.gpuName ? `WebGPU: ${info.gpuName}` : client.gpuSkipped ? "WebGPU (reloads the page)" :
    info.gpuPending ? "WebGPU (starting…)" : "WebGPU (unavailable)";
  if (wantBackend === "gpu" && (info.gpuName || info.gpuPending) || wantBackend === "cpu") choice.value = wantBackend;
  if (choice.value === "gpu" && gpuOpt.disabled) choice.value = "";
  if (client.gpuSkipped) {
    $("backend-hint").textContent = demo.notices[demo.notices.length - 1]; // the crash notice
  } else if (info.gpuSeconds > 0) {
    $("backend-hint").textContent = `one pass: GPU ${Math.round(info.gpuSeconds * 1000)} ms, CPU ${Math.round(info.cpuSeconds * 1000)} ms`;
  } else if (!info.gpuName) {
    $("backend-hint").textContent = info.fallback;
  }
  const c = info.config;
  syncLimits();
  syncSpec();
  const dl = $("model-facts");
  dl.textContent = "";
  if (info.kind === "continuous") {
    const d = info.decoder;
    fact(dl, "Model", `continuous diffusion (TEncDM) on ${c.latent}-wide encodings: a ${c.layers}-layer denoiser${c.self_cond ? " with self-conditioning" : ""} and a ${d.layers}-layer decoder`);
  } else {
    fact(dl, "Model", info.kind === "autoregressive" ? "autoregressive (left to right)" : "masked diffusion");
  }
  fact(dl, "Backend", info.gpu ? `${info.backend} (WebGPU)` : `${info.backend} — ${info.fallback}`);
  if (info.gpuSeconds > 0) fact(dl, "Self-test pass", `GPU ${(info.gpuSeconds * 1000).toFixed(0)} ms, CPU ${(info.cpuSeconds * 1000).toFixed(0)} ms (32 positions)`);
  if (!info.gpu) {
    const threads = info.cpuThreads > 1 ? `, on ${info.cpuThreads} threads` : `, on one thread: ${info.cpuThreadsWhy || info.threadsWhy || "this device has one processor"}`;
    fact(dl, "CPU products", info.cpuKernel === "wasm-simd" ? `WebAssembly SIMD kernel${threads}` : `${info.cpuKernel} (pure Go)`);
  }
  if (info.selfTestDiff >= 0) fact(dl, "GPU self-test", info.kind === "continuous" ? `max |GPU − CPU| latent or logit, relative to the largest, ${info.selfTestDiff.toExponential(2)}` :
    `max |GPU − CPU| logit ${info.selfTestDiff.toExponential(2)}`);
  if (info.matmulKernel) fact(dl, "GPU matrix products", matmulFact(info));
  fact(dl, "Network", `${(info.params / 1e6).toFixed(1)} M parameters, ${c.layers} layers, width ${c.dim}, window ${c.seq_len} tokens, vocabulary ${c.vocab}`);
  fact(dl, "Weights", `${info.weights.name}: ${formatBytes(info.weights.bytes)} ${info.dtype}, ${info.weights.source === "cache" ? "from Cache Storage" : "downloaded"}`);
  if (info.wasm.bytes) fact(dl, "Engine", `${formatBytes(info.wasm.bytes)} WebAssembly (${formatBytes(info.wasm.gzipBytes)} gzipped)`);
  if (info.kind === "continuous") fact(dl, "Length", `within the ${c.seq_len}-token window, prompt included`);
  else fact(dl, "Length", `up to ${choices ? choices.maxLength : "?"} tokens; past the ${c.seq_len}-token window in chunks of ${c.seq_len / 2}, each seeing the latest ${c.seq_len / 2} tokens before it: network calls grow linearly with length`);
}

// showTimings lists the timeline of the start-up and the first sample (client.spans):
// what ran when, in seconds after the page's navigation; spans overlap where work ran at once.
function showTimings() {
  const dl = $("timings");
  dl.textContent = "";
  for (const s of [...client.spans].sort((a, b) => a.start - b.start)) {
    fact(dl, s.name, `${fmtSecs(s.end - s.start)} (${s.start.toFixed(2)}–${s.end.toFixed(2)} s)`);
  }
}

// firstRun is when the page's first sample was asked for (ms since the epoch, the
// timeline's clock), so that its first step and its end go on the timeline.
let firstRun = 0;
function epochNow() { return performance.timeOrigin + performance.now(); }

// gpuLost tells the reader that the sample moved to the CPU (the engine has dropped the
// GPU: later samples run on the CPU too) and sets the backend control to match.
function gpuLost(why) {
  // The continuous model's latents are lost with the GPU: its sample starts again on the CPU.
  const text = model === "continuous" ? `The GPU stopped working during the sample (${why}); it runs again on the CPU with the same seed.` :
    `The GPU stopped working during the sample (${why}); it goes on on the CPU, keeping the text written so far.`;
  demo.notices.push(text);
  status(text);
  const choice = $("backend-choice");
  choice.value = "cpu";
  choice.options[1].disabled = true;
  choice.options[1].textContent = "WebGPU (lost)";
  $("backend-hint").textContent = text;
}

function request() {
  const seedBox = $("seed");
  if ($("reseed").checked && demo.output) seedBox.value = String(Math.floor(Math.random() * 1e9));
  const steps = Number($("steps").value);
  if (model === "continuous") {
    return {
      mode, prompt: prompt.value, length: Number($("length").value), steps,
      seed: Number(seedBox.value) || 0, backend: $("backend-choice").value, stopAtEOT: $("stop-eot").checked,
      ...(params.has("solver") ? { solver: params.get("solver") } : {}), // else the engine's (sde)
    };
  }
  return {
    mode, prompt: prompt.value,
    length: Number($("length").value), steps,
    temperature: Number($("temperature").value),
    seed: Number(seedBox.value) || 0,
    backend: $("backend-choice").value,
    stopAtEOT: $("stop-eot").checked,
    ...(!$("draft").disabled && $("draft").value ? { draft: $("draft").value } : {}),
    ...($("strategy").value ? { strategy: $("strategy").value } : {}), // else the engine's default
  };
}

const pace = Number(params.get("pace") || 60);
const player = new Player(showStep, pace);

async function generate() {
  if (running) return;
  running = true;
  $("go").disabled = true;
  $("stop").disabled = false;
  let tokens = 0;
  status("Writing…");
  if (!firstRun && !demo.output) firstRun = epochNow();
  try {
    const info = await client.load();
    const req = request(); // after loading: the backend choice depends on what loaded
    setState("sampling");
    view.classList.toggle("spec", !!req.draft);
    demo.steps = 0;
    if (matchMedia("(max-width: 800px)").matches) $("output-title").scrollIntoView({ behavior: "smooth", block: "start" });
    let lost = false;
    const out = await client.sample(req, (s) => {
      if (s.fallback && !lost) { lost = true; gpuLost(s.fallback); }
      if (!tokens) tokens = s.masked + s.states.filter((x) => x === COMMITTED || x === ACCEPTED || x === CORRECTED).length;
      demo.steps++;
      s.tokens = tokens;
      s.total = model === "continuous" ? req.steps : Math.min(req.steps, tokens);
      player.push(s);
    });
    // The finished text goes on screen at once: the frames still queued (at most two,
    // 60 ms apart) would only delay it.
    player.clear();
    renderPieces(view, out);
    view.dataset.masked = "0";
    $("s-step").textContent = String(out.steps);
    showCalls(out.nfe, out.targetRows);
    $("s-tps").textContent = formatRate(out.tokensPerSec);
    if (out.fallback && !lost) gpuLost(out.fallback);
    showBackend(out.backend);
    $("s-time").textContent = fmtSecs(out.seconds);
    demo.output = out;
    if (demo.metrics.firstSampleSeconds == null) {
      demo.metrics.firstSampleSeconds = performance.now() / 1000;
      client.mark("first sample shown", firstRun);
      showTimings();
    }
    setState("done");
    const trimmed = out.trimmed ? ` The prompt's first ${out.trimmed} tokens did not fit the window and were left out.` : "";
    const calls = model === "continuous" ? `${out.nfe} denoiser calls, each step's estimate decoded` : out.targetRows ? `${out.nfe} target calls over ${out.targetRows} sequences (${out.accepted} drafted tokens kept, ${out.corrected} corrected)` :
      `${out.nfe} network calls${out.chunks > 1 ? ` in ${out.chunks} chunks` : ""}`;
    const moved = out.fallback ? ` The GPU was lost midway; the text written before it was kept and the rest written on the CPU.` : "";
    status(`${out.tokens} tokens in ${out.steps} steps, ${calls}, ${formatRate(out.tokensPerSec)} tokens/s on ${out.backend}.${trimmed}${moved}`);
  } catch (err) {
    player.clear();
    if (err.canceled) {
      setState("canceled");
      status("Stopped.");
    } else {
      setState("error");
      status(`Error: ${err.message}`);
    }
  } finally {
    running = false;
    $("go").disabled = false;
    $("stop").disabled = true;
  }
}

function boot() {
  for (const id of sampler) $(id).disabled = true;
  const modelChoice = $("model-choice");
  modelChoice.value = model;
  modelChoice.addEventListener("change", () => {
    const u = new URL(location.href);
    if (modelChoice.value) u.searchParams.set("model", modelChoice.value);
    else u.searchParams.delete("model");
    for (const p of ["steps", "strategy", "draft"]) u.searchParams.delete(p); // the other model's settings
    location.href = u.href;
  });
  applyParams();
  if (client.gpuSkipped && !wantBackend) wantBackend = "cpu";
  // With the GPU left off after a crash, asking for it loads the page again with it on.
  $("backend-choice").addEventListener("change", (ev) => {
    if (ev.target.value !== "gpu" || !client.gpuSkipped) return;
    const u = new URL(location.href);
    u.searchParams.set("backend", "gpu");
    location.href = u.href;
  });
  syncOutputs();
  for (const id of controls) $(id).addEventListener("input", syncOutputs);
  $("draft").disabled = true;
  for (const r of document.querySelectorAll("input[name=mode]")) r.addEventListener("change", () => setMode(r.value));
  prompt.addEventListener("input", () => { edited = true; });
  prompt.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); generate(); }
  });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); generate(); });
  $("stop").addEventListener("click", () => client.cancel());

  client.choices().then(applyChoices, () => {}); // a failed start is shown by load() below
  const bar = $("load-bar"), text = $("load-text");
  client.on((m) => {
    if (m.type === "progress") {
      demo.progress.push({ phase: m.phase, source: m.source || "", loaded: m.loaded || 0, total: m.total || 0 });
      if (m.phase === "download" && m.total) {
        bar.value = m.loaded / m.total;
        text.textContent = m.source === "cache" ? (m.loaded < m.total ? `Reading the cached weights: ${formatBytes(m.loaded)} of ${formatBytes(m.total)}` :
          `Weights from the cache (${formatBytes(m.total)})`) :
          `Downloading weights: ${formatBytes(m.loaded)} of ${formatBytes(m.total)}`;
      } else {
        bar.removeAttribute("value");
        text.textContent = m.phase[0].toUpperCase() + m.phase.slice(1) + "…";
      }
    } else if (m.type === "timing") {
      showTimings();
    } else if (m.type === "gpu") {
      demo.info = m.info; // the GPU passed or failed its self-test
      showInfo(m.info);
    } else if (m.type === "notice") {
      // After a crash on the GPU the notice says how to go back to it, and stays by the
      // backend control.
      const text = m.gpuCrashed ? `${m.text} Pick WebGPU under “Run on”, or open the page with ?backend=gpu, to go back.` : m.text;
      demo.notices.push(text);
      status(text);
      if (m.gpuCrashed) $("backend-hint").textContent = text;
    }
  });
  client.load().then((info) => {
    demo.info = info;
    demo.metrics.readySeconds = performance.now() / 1000;
    $("load").hidden = true;
    showInfo(info);
    if (demo.state === "loading") setState("ready");
    if (!view.childElementCount) view.textContent = "";
    if (!running) status(client.gpuSkipped ? demo.notices[demo.notices.length - 1] : `Ready: ${info.backend}.`);
  }, (err) => {
    setState("error");
    $("load-text").textContent = `Could not load the model: ${err.message}`;
    $("backend").textContent = "not loaded";
  });
  if (params.get("testhooks") === "1") demo.loseGPU = () => client.loseGPU();
  if (params.get("autorun") === "1") generate();
}

boot();
