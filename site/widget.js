// widget.js defines <diffusion-demo>, the demo for documentation pages:
//
//   <script type="module" src="https://example.org/site/widget.js"></script>
//   <diffusion-demo prompt="It is a truth" length="48" steps="32"></diffusion-demo>
//
// Attributes: prompt, length (tokens; past the model's window the engine writes in chunks,
// up to engine.MaxLength, with network calls growing with length), steps, strategy (one of the engine's strategies,
// core/sample), temperature, seed, mode (continue or infill; in infill mode the prompt's
// blanks are written as core/infill reads them), backend (gpu or cpu; default the
// faster), draft (speculative sampling with one of the engine's drafts, within the window),
// stop-at-eot ("0" writes on past the end of a text), autorun (generate once loaded), pace
// (ms per shown step), model ("continuous" for the site's continuous diffusion model, whose
// live view shows the decoded estimate at every step; it reads prompt, length, steps,
// seed, mode, backend, stop-at-eot and solver: sde or ode). A sampling setting
// left out takes the engine's default, the command line's too.
// Every widget of a model on a page shares one engine worker and one copy of that model.
import { sharedClient, renderPieces, formatBytes, formatRate, Player } from "./client.js";

const CSS = `
:host { display: block; --paper: #f8f4ec; --card: #fffdf8; --ink: #2a2521; --muted: #6f655b; --rule: #e4dccd;
  --accent: #8c2f39; --accent-ink: #fff; --mask: #d9d0c0; --mask-edge: #c8bda9; --fresh: #f6d98b; --given: #38526b;
  --kept: #cfe8cf; --fixed: #f4d0cc; --fixed-edge: #b4453a;
  --focus: #1f6feb; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
@media (prefers-color-scheme: dark) { :host { --paper: #191715; --card: #221f1c; --ink: #ece5d8; --muted: #a89d8f;
  --rule: #3a352f; --accent: #d77a84; --accent-ink: #1b1412; --mask: #3d3731; --mask-edge: #4b443c; --fresh: #7a5f1c;
  --given: #9fc1e0; --focus: #79b8ff; --kept: #244a2c; --fixed: #5a2a26; --fixed-edge: #e08a80; } }
.card { background: var(--card); border: 1px solid var(--rule); border-radius: 12px; padding: 1rem; }
.row { display: flex; gap: .5rem; align-items: center; }
input { flex: 1; min-width: 0; font: 1rem "Iowan Old Style", Palatino, Georgia, serif; color: inherit;
  background: var(--paper); border: 1px solid var(--rule); border-radius: 8px; padding: .5rem .6rem; }
button { font: 600 .95rem system-ui, sans-serif; border-radius: 999px; padding: .5rem 1.1rem; min-height: 40px;
  cursor: pointer; border: 1px solid var(--accent); background: var(--accent); color: var(--accent-ink); }
button.stop { background: transparent; color: var(--ink); border-color: var(--rule); }
button:disabled { opacity: .5; cursor: default; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.view { font: 1.15rem/1.7 "Iowan Old Style", Palatino, Georgia, serif; white-space: pre-wrap; overflow-wrap: anywhere;
  min-height: 5.5rem; margin-top: .75rem; padding: .75rem .9rem; background: var(--paper); border-radius: 8px; }
.view:empty::before { content: attr(data-empty-text); color: var(--muted); font-style: italic; font-size: .95rem; }
.tok.given { color: var(--given); }
.tok.masked { display: inline-block; width: 1.4em; height: .9em; margin: 0 .1em; vertical-align: -0.06em;
  border-radius: 4px; background: var(--mask); box-shadow: inset 0 -2px 0 var(--mask-edge); }
.tok.committed { background: var(--fresh); border-radius: 3px; animation: reveal .45s ease-out; }
.tok.accepted { background: var(--kept); border-radius: 3px; }
.tok.corrected { background: var(--fixed); border-radius: 3px; text-decoration: underline wavy var(--fixed-edge); }
.tok.end::after { content: "¶"; color: var(--muted); font-size: .8em; }
.view[data-state=sampling] .tok.nl::before { content: "↵"; color: var(--muted); font-size: .75em; }
@keyframes reveal { from { opacity: 0; filter: blur(3px); } to { opacity: 1; filter: none; } }
@media (prefers-reduced-motion: reduce) { .tok.committed { animation: none; } }
.meta { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem 1rem; margin-top: .5rem;
  font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
progress { width: 100%; height: 4px; accent-color: var(--accent); margin-top: .5rem; }
progress[hidden] { display: none; }
.label { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
`;

let instances = 0;

class DiffusionDemo extends HTMLElement {
  static observedAttributes = ["prompt"];

  constructor() {
    super();
    const n = ++instances;
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${CSS}</style>
<div class="card" part="card">
  <form class="row">
    <label class="label" for="p${n}">Prompt</label>
    <input id="p${n}" part="prompt" spellcheck="false" autocomplete="off">
    <button type="submit" class="go" part="button">Generate</button>
    <button type="button" class="stop" hidden>Stop</button>
  </form>
  <progress max="1" value="0" aria-label="Loading the model"></progress>
  <div class="view" part="view" data-state="loading" data-empty-text="Loading the model…"></div>
  <div class="meta" role="status" aria-live="polite"><span class="stats"></span><span class="backend"></span></div>
</div>`;
    this.$ = (sel) => root.querySelector(sel);
    this.running = false;
    this.output = null;
    this.$("form").addEventListener("submit", (ev) => { ev.preventDefault(); this.generate().catch(() => {}); });
    this.$(".stop").addEventListener("click", () => this.client().cancel());
  }

  /** client is the engine client of the element's model (see the model attribute). */
  client() { return sharedClient(this.getAttribute("model") === "continuous" ? "continuous" : ""); }

  attributeChangedCallback(name, _, value) {
    if (name === "prompt") this.$("input").value = value ?? "";
  }

  connectedCallback() {
    if (this.started) return;
    this.started = true;
    if (!this.hasAttribute("prompt")) this.$("input").value = "It is a truth universally acknowledged, that";
    const client = this.client();
    const bar = this.$("progress");
    const off = client.on((m) => {
      if (m.type === "progress" && m.phase === "download" && m.total) bar.value = m.loaded / m.total;
      else if (m.type === "progress") bar.removeAttribute("value");
    });
    // The GPU starts after the CPU is ready: show the backend the next sample will use.
    client.on((m) => { if (m.type === "gpu" && !this.running) this.$(".backend").textContent = m.info.backend; });
    client.load().then((info) => {
      off();
      bar.hidden = true;
      this.$(".backend").textContent = info.backend;
      this.$(".view").dataset.emptyText = "Press Generate to watch the model write.";
      this.$(".view").dataset.state = "ready";
      if (this.hasAttribute("autorun")) this.generate().catch(() => {});
    }, (err) => {
      off();
      bar.hidden = true;
      this.$(".view").dataset.state = "error";
      this.$(".view").dataset.emptyText = `Could not load the model: ${err.message}`;
    });
  }

  num(name, def) {
    const v = Number(this.getAttribute(name));
    return this.hasAttribute(name) && Number.isFinite(v) ? v : def;
  }

  /** request is the element's attributes as an engine request; the engine fills in the rest. */
  request(choices) {
    const req = { prompt: this.$("input").value, seed: this.num("seed", Math.floor(Math.random() * 1e9)) };
    if (this.hasAttribute("stop-at-eot")) req.stopAtEOT = this.getAttribute("stop-at-eot") !== "0";
    const continuous = this.getAttribute("model") === "continuous";
    if (continuous) req.steps = choices.continuous.steps; // its own default, unless steps says
    // The continuous model has no reveal order, temperature or draft.
    const texts = continuous ? ["mode", "backend", "solver"] : ["mode", "strategy", "backend", "draft"];
    const nums = continuous ? ["length", "steps"] : ["length", "steps", "temperature"];
    for (const name of texts) {
      if (this.hasAttribute(name)) req[name] = this.getAttribute(name);
    }
    for (const name of nums) {
      if (this.num(name, null) !== null) req[name] = this.num(name, null);
    }
    return req;
  }

  /** generate samples with the element's settings and resolves with the output. */
  async generate() {
    if (this.running) return this.output;
    this.running = true;
    const go = this.$(".go"), stop = this.$(".stop"), view = this.$(".view"), stats = this.$(".stats");
    go.disabled = true;
    stop.hidden = false;
    const player = new Player((s) => {
      renderPieces(view, s);
      stats.textContent = `step ${s.step} · ${s.nfe} ${s.rows ? "target " : ""}calls · ${s.seconds.toFixed(1)} s`;
    }, this.num("pace", 60));
    try {
      const client = this.client();
      await client.load();
      view.dataset.state = "sampling";
      const out = await client.sample(this.request(await client.choices()), (s) => player.push(s));
      await player.done();
      renderPieces(view, out);
      stats.textContent = `${out.tokens} tokens · ${out.steps} steps · ${out.nfe} ${out.targetRows ? `target calls (${out.targetRows} rows)` : "calls"} · ${formatRate(out.tokensPerSec)} tokens/s`;
      this.$(".backend").textContent = out.backend;
      view.dataset.state = "done";
      this.output = out;
      this.dispatchEvent(new CustomEvent("done", { detail: out }));
      return out;
    } catch (err) {
      player.clear();
      view.dataset.state = err.canceled ? "canceled" : "error";
      stats.textContent = err.canceled ? "Stopped." : `Error: ${err.message}`;
      throw err;
    } finally {
      this.running = false;
      go.disabled = false;
      stop.hidden = true;
    }
  }
}

if (!customElements.get("diffusion-demo")) customElements.define("diffusion-demo", DiffusionDemo);
export { DiffusionDemo, formatBytes };
