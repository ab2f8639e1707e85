package e2e

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/austen-diffusion/textdiffusion/build/headless"
	"github.com/austen-diffusion/textdiffusion/build/serve/static"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// Settings, from the environment:
//
//	TDIFF_E2E=1          run these tests (they skip otherwise)
//	TDIFF_SITE           the built site (default build/out/site)
//	TDIFF_E2E_OUT        where screenshots go (default build/out)
//	TDIFF_E2E_TIMEOUT    how long one sample may take (default 10m; SwiftShader is slow)
//	CHROMIUM             the browser (default /usr/bin/chromium)
type env struct {
	site, out, chromium string
	timeout             time.Duration
	base                string // URL of the served site
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Getenv("TDIFF_E2E") != "1" {
		t.Skip("page tests skipped: set TDIFF_E2E=1 to run them in headless Chromium (build/e2e.sh builds the site and does)")
	}
	e := &env{
		site:     or(os.Getenv("TDIFF_SITE"), "../out/site"),
		out:      or(os.Getenv("TDIFF_E2E_OUT"), "../out"),
		chromium: or(os.Getenv("CHROMIUM"), "/usr/bin/chromium"),
		timeout:  10 * time.Minute,
	}
	if s := os.Getenv("TDIFF_E2E_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TDIFF_E2E_TIMEOUT=%q: %v", s, err)
		}
		e.timeout = d
	}
	if _, err := os.Stat(filepath.Join(e.site, "site", "assets.json")); err != nil {
		t.Fatalf("no built site at %s (run build/site.sh first): %v", e.site, err)
	}
	if _, err := os.Stat(e.chromium); err != nil {
		t.Fatalf("no browser at %s (apt-get install chromium, or set CHROMIUM): %v", e.chromium, err)
	}
	if err := os.MkdirAll(e.out, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(static.Handler(e.site))
	t.Cleanup(srv.Close)
	e.base = srv.URL
	return e
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// browser starts a fresh headless Chromium (its own profile) and returns a tab's context.
// Without webgpu the browser offers no WebGPU adapter at all.
func (e *env) browser(t *testing.T, webgpu bool) context.Context {
	t.Helper()
	opts := append(headless.Options(e.chromium, t.TempDir()),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(1280, 1000),
	)
	if webgpu {
		opts = append(opts, chromedp.Flag("enable-unsafe-webgpu", true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now, so failures show here
		t.Fatalf("starting %s: %v", e.chromium, err)
	}
	return ctx
}

// pageState is what the demo page shows, read from the DOM and window.tdiffDemo.
type pageState struct {
	State      string   `json:"state"`
	Masked     int      `json:"masked"`
	Text       string   `json:"text"`
	Status     string   `json:"status"`
	Tokens     int      `json:"tokens"`
	NFE        int      `json:"nfe"`
	Steps      int      `json:"steps"`
	TPS        float64  `json:"tps"`
	Backend    string   `json:"backend"`
	GPU        bool     `json:"gpu"`
	Fallback   string   `json:"fallback"`
	SelfTest   float64  `json:"selfTest"`
	Source     string   `json:"source"`
	Notices    []string `json:"notices"`
	Ready      float64  `json:"ready"`
	FirstStep  float64  `json:"firstStep"` // the first sample's first step on screen
	First      float64  `json:"first"`     // the first sample's end on screen
	Spans      []span   `json:"spans"`
	StepsShown int      `json:"stepsShown"`
	CPUKernel  string   `json:"cpuKernel"`
	GPUName    string   `json:"gpuName"`
	GPUSecs    float64  `json:"gpuSecs"`
	CPUSecs    float64  `json:"cpuSecs"`
	RanOn      string   `json:"ranOn"`
	Threads    int      `json:"threads"`    // threads running the CPU's products
	ThreadsWhy string   `json:"threadsWhy"` // why one, if one
}

const readState = `(() => {
  const v = document.getElementById("view"), d = window.tdiffDemo || {}, o = d.output || {}, i = d.info || {};
  return {
    state: v.dataset.state, masked: v.querySelectorAll(".tok.masked").length, text: v.textContent,
    status: document.getElementById("status").textContent,
    tokens: o.tokens || 0, nfe: o.nfe || 0, steps: o.steps || 0, tps: o.tokensPerSec || 0,
    backend: i.backend || "", gpu: !!i.gpu, fallback: i.fallback || "", selfTest: i.selfTestDiff ?? -1,
    source: (i.weights && i.weights.source) || "", notices: d.notices || [],
    ready: d.metrics.readySeconds || 0, firstStep: d.metrics.firstStepSeconds || 0, first: d.metrics.firstSampleSeconds || 0,
    spans: d.metrics.spans || [], stepsShown: d.steps || 0,
    cpuKernel: i.cpuKernel || "", gpuName: i.gpuName || "", gpuSecs: i.gpuSeconds || 0, cpuSecs: i.cpuSeconds || 0,
    ranOn: o.backend || "", threads: i.cpuThreads || 0, threadsWhy: i.cpuThreadsWhy || i.threadsWhy || "",
  };
})()`

// followSample watches the sample the page has started: it waits for the live view
// mid-denoising (the JS condition mid) and screenshots it as name-mid.png, then for the end
// and the GPU's outcome (the GPU starts once no sample runs; the checks read it) and
// screenshots name-final.png. It returns the state seen mid-sample (its State is not
// "sampling" when the sample ended first, an error here) and the final state.
func (e *env) followSample(t *testing.T, ctx context.Context, name, mid string) (during, final pageState) {
	t.Helper()
	e.waitFor(t, ctx, "the live view mid-denoising", mid+" || "+finished, e.timeout)
	if during = e.state(t, ctx); during.State == "sampling" {
		e.screenshot(t, ctx, name+"-mid.png")
	} else {
		t.Errorf("never saw the view mid-denoising (state %q, status %q)", during.State, during.Status)
	}
	e.waitFor(t, ctx, "the sample to finish", finished, e.timeout)
	e.waitFor(t, ctx, "the GPU's outcome", gpuSettled, e.timeout)
	e.screenshot(t, ctx, name+"-final.png")
	return during, e.state(t, ctx)
}

func (e *env) state(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readState))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return s
}

// waitFor polls a JS predicate until it is truthy.
func (e *env) waitFor(t *testing.T, ctx context.Context, what, pred string, timeout time.Duration) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](pred,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("status")?.textContent + " / " + (document.getElementById("load-text")?.textContent || "")`))
		t.Fatalf("waiting for %s: %v (page says %q)", what, err, s)
	}
}

func (e *env) screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(e.out, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

const (
	prompt = "It is a truth universally acknowledged, that"
	// sampling holds while the view shows a step with tokens still hidden. A fast engine's
	// view shows the first step and then keeps at most two behind the engine (site/client.js
	// Player), so a CPU sample of 8 steps shows little more than its first and last two.
	sampling  = `(() => { const v = document.getElementById("view"); return v.dataset.state === "sampling" && +v.dataset.step >= 1 && +v.dataset.masked > 0; })()`
	finished  = `["done", "error", "canceled"].includes(document.getElementById("view").dataset.state)`
	readyPred = `window.tdiffDemo && (window.tdiffDemo.info !== null || window.tdiffDemo.state === "error")`
	// gpuSettled holds once the GPU passed or failed its self-test (or was never tried).
	gpuSettled = `(!window.tdiffDemo || !window.tdiffDemo.info || !window.tdiffDemo.info.gpuPending)`
)

// sample opens the demo with autorun, screenshots it mid-denoising and at the end, and
// checks that 32 tokens were written with no mask left.
func (e *env) sample(t *testing.T, ctx context.Context, name string, steps int, backend string) pageState {
	t.Helper()
	q := url.Values{"prompt": {prompt}, "length": {"32"}, "steps": {itoa(steps)}, "temperature": {"0.8"},
		"seed": {"7"}, "autorun": {"1"}, "pace": {"250"}, "backend": {backend}}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	_, s := e.followSample(t, ctx, name, sampling)
	if s.State != "done" {
		t.Fatalf("state %q, status %q", s.State, s.Status)
	}
	if s.Masked != 0 || s.Tokens != 32 || !strings.HasPrefix(s.Text, prompt) || len(s.Text) <= len(prompt) {
		t.Errorf("after sampling: %d masked, %d tokens, text %q", s.Masked, s.Tokens, s.Text)
	}
	if strings.Contains(s.Text, "<|mask|>") {
		t.Errorf("MASK text in %q", s.Text)
	}
	if s.NFE < 1 || s.NFE > steps || s.StepsShown < 2 {
		t.Errorf("%d network calls for %d steps, %d steps shown", s.NFE, steps, s.StepsShown)
	}
	t.Logf("%s: ran on %q, default %q (GPU %q, CPU kernel %s, fallback %q, self-test %.2g, GPU pass %.3f s, CPU pass %.3f s); %d tokens, %d steps, %d NFE, %.1f tokens/s; "+
		"weights from %s; ready at %.2f s, first sample at %.2f s after navigation",
		name, s.RanOn, s.Backend, s.GPUName, s.CPUKernel, s.Fallback, s.SelfTest, s.GPUSecs, s.CPUSecs, s.Tokens, s.Steps, s.NFE, s.TPS, s.Source, s.Ready, s.First)
	t.Logf("%s: text %q", name, s.Text)
	return s
}

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
		if n == 0 {
			return string(b)
		}
	}
}

// TestWebGPU samples on the GPU (SwiftShader on machines without one), then samples
// speculatively there (checkSpeculativeGPU). The page makes the faster backend the
// default, which on SwiftShader is the CPU, so the test asks for the GPU.
func TestWebGPU(t *testing.T) {
	e := setup(t)
	ctx := e.browser(t, true)
	s := e.sample(t, ctx, "e2e-webgpu", 8, "gpu")
	if s.GPUName == "" || s.RanOn != s.GPUName {
		t.Errorf("sampled on %q, want WebGPU (GPU %q; fallback: %s)", s.RanOn, s.GPUName, s.Fallback)
	}
	if s.SelfTest < 0 || s.SelfTest > 1e-3 {
		t.Errorf("self-test max logit difference %g, want within 1e-3", s.SelfTest)
	}
	// Both matmul kernels were timed at load, the faster runs, and the page says so.
	mm, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
		Kernel    string             `json:"kernel"`
		Seconds   map[string]float64 `json:"seconds"`
		Positions int                `json:"positions"`
		Facts     string             `json:"facts"`
	}](`(() => { const i = tdiffDemo.info; return { kernel: i.matmulKernel || "", seconds: i.matmulSeconds || {},
		positions: i.matmulPositions || 0, facts: document.getElementById("model-facts").textContent }; })()`))
	if err != nil {
		t.Fatal(err)
	}
	reg, tiled := mm.Seconds["registers"], mm.Seconds["tiled"]
	want := "registers"
	if tiled < reg {
		want = "tiled"
	}
	if reg <= 0 || tiled <= 0 || mm.Kernel != want {
		t.Errorf("matmul kernel %q, timed %v: want both timed and the faster chosen", mm.Kernel, mm.Seconds)
	}
	if !strings.Contains(mm.Facts, "GPU matrix products") {
		t.Errorf("Model and timings: %q, want the GPU's matrix products named", mm.Facts)
	}
	t.Logf("matmul kernel at load: %s (one %d-position forward pass: registers %.0f ms, tiled %.0f ms)", mm.Kernel, mm.Positions, 1000*reg, 1000*tiled)
	e.checkSpeculativeGPU(t, ctx)
}

// TestCPU samples with no WebGPU adapter, fills blanks, runs the widget page, recovers
// from damaged cached weights and renders at phone width, in one browser.
func TestCPU(t *testing.T) {
	e := setup(t)
	ctx := e.browser(t, false)
	t.Run("sample", func(t *testing.T) {
		s := e.sample(t, ctx, "e2e-cpu", 16, "")
		if s.GPU || s.Backend != "CPU (wasm)" || s.RanOn != "CPU (wasm)" || s.GPUName != "" || !strings.Contains(s.Fallback, "no WebGPU adapter") {
			t.Errorf("backend %q gpu %v fallback %q, want the CPU for want of an adapter", s.Backend, s.GPU, s.Fallback)
		}
		if s.CPUKernel != "wasm-simd" {
			t.Errorf("CPU products on %q, want the WebAssembly SIMD kernel", s.CPUKernel)
		}
		if s.Source != "network" {
			t.Errorf("first visit: weights from %q, want network", s.Source)
		}
	})
	t.Run("infill", func(t *testing.T) {
		// Both spellings of a blank (core/infill, as on the command line).
		q := url.Values{"mode": {"infill"}, "prompt": {"Elizabeth ___ at the letter, and [MASK] that Mr. Darcy had written it."},
			"length": {"4"}, "steps": {"8"}, "seed": {"3"}, "autorun": {"1"}, "pace": {"0"}}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "the infill sample", finished, e.timeout)
		s := e.state(t, ctx)
		// The given pieces survive; the space before a blank belongs to the model's first
		// word there (core/engine.Input), so the fills decide what follows "Elizabeth" and "and".
		if s.State != "done" || s.Masked != 0 || s.Tokens != 8 || !strings.HasPrefix(s.Text, "Elizabeth") ||
			strings.Contains(s.Text, "___") || strings.Contains(s.Text, "[MASK]") || !strings.Contains(s.Text, " at the letter, and") ||
			!strings.HasSuffix(s.Text, " that Mr. Darcy had written it.") {
			t.Errorf("infill: state %q, %d masked, %d tokens, text %q (status %q)", s.State, s.Masked, s.Tokens, s.Text, s.Status)
		}
		if s.Source != "cache" {
			t.Errorf("second visit: weights from %q, want cache", s.Source)
		}
		e.screenshot(t, ctx, "e2e-infill.png")
		// With no strategy or temperature in the URL, the controls hold the engine's
		// defaults (sample.Defaults, the command line's) and the menu its strategies.
		type controls struct {
			Strategy    string   `json:"strategy"`
			Options     []string `json:"options"`
			Temperature string   `json:"temperature"`
			Hint        string   `json:"hint"`
		}
		c, err := chromedp.Run(ctx, chromedp.Evaluate[controls](`({strategy: document.getElementById("strategy").value,
			options: [...document.getElementById("strategy").options].map((o) => o.value),
			temperature: document.getElementById("temperature").value,
			hint: document.getElementById("prompt-hint").textContent})`))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range sample.Strategies {
			names = append(names, s.Name)
		}
		d := sample.Defaults()
		if c.Strategy != d.Strategy || strings.Join(c.Options, ",") != strings.Join(names, ",") ||
			c.Temperature != strconv.FormatFloat(d.Temperature, 'g', -1, 64) || !strings.Contains(c.Hint, infill.Spellings) {
			t.Errorf("controls %+v, want strategies %v, default %s at temperature %g, and a hint naming %s", c, names, d.Strategy, d.Temperature, infill.Spellings)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		q := url.Values{"prompt": {prompt}, "length": {"96"}, "steps": {"96"}, "autorun": {"1"}, "pace": {"0"}}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "sampling to start", sampling+" || "+finished, e.timeout)
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("stop").click()`)); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "sampling to stop", finished, time.Minute)
		s := e.state(t, ctx)
		if s.State != "canceled" || s.Status != "Stopped." || s.StepsShown >= 96 {
			t.Errorf("after Stop: state %q, status %q, %d steps", s.State, s.Status, s.StepsShown)
		}
		// The engine takes the next request at once.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("length").value = 8; document.getElementById("steps").value = 4; document.getElementById("go").click()`)); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "a sample after the stop", `document.getElementById("view").dataset.state === "done"`, e.timeout)
	})
	t.Run("long", func(t *testing.T) {
		// Past the window: 512 tokens in chunks of half the window, few steps per token.
		const n, steps = 512, 96
		q := url.Values{"prompt": {prompt}, "length": {itoa(n)}, "steps": {itoa(steps)}, "seed": {"11"}, "stop": {"0"},
			"autorun": {"1"}, "pace": {"0"}}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		// Mid-way: more text than the window holds, with the current chunk still resolving.
		grown := `(() => { const v = document.getElementById("view"); return v.dataset.state === "sampling" && v.childElementCount > 200 && +v.dataset.masked > 0; })()`
		e.waitFor(t, ctx, "the text to grow past the window", grown+" || "+finished, e.timeout)
		if st := e.state(t, ctx); st.State == "sampling" {
			e.screenshot(t, ctx, "e2e-long-mid.png")
		} else {
			t.Errorf("never saw a chunk resolving past the window (state %q, status %q)", st.State, st.Status)
		}
		e.waitFor(t, ctx, "the long sample", finished, e.timeout)
		e.screenshot(t, ctx, "e2e-long-final.png")
		s := e.state(t, ctx)
		type longOut struct {
			Chunks int    `json:"chunks"`
			Pieces int    `json:"pieces"`
			Hint   string `json:"hint"`
			Max    string `json:"max"`
		}
		o, err := chromedp.Run(ctx, chromedp.Evaluate[longOut](`({chunks: tdiffDemo.output.chunks, pieces: document.getElementById("view").childElementCount,
			hint: document.getElementById("length-hint").textContent, max: document.getElementById("length").max})`))
		if err != nil {
			t.Fatal(err)
		}
		if s.State != "done" || s.Tokens != n || s.Masked != 0 || !strings.HasPrefix(s.Text, prompt) || o.Pieces < n || o.Chunks < 2 {
			t.Errorf("long: state %q, %d tokens, %d masked, %d pieces, %d chunks (status %q)", s.State, s.Tokens, s.Masked, o.Pieces, o.Chunks, s.Status)
		}
		if s.Steps < steps-o.Chunks || s.Steps > steps+o.Chunks || s.NFE > s.Steps {
			t.Errorf("long: %d steps, %d network calls; want about %d steps", s.Steps, s.NFE, steps)
		}
		if max, _ := strconv.Atoi(o.Max); max < engine.MaxLength || !strings.Contains(o.Hint, "network calls grow with length") {
			t.Errorf("long: length control up to %s, hint %q", o.Max, o.Hint)
		}
		t.Logf("long: %d tokens in %d chunks, %d steps, %d network calls, %.1f tokens/s on %s", s.Tokens, o.Chunks, s.Steps, s.NFE, s.TPS, s.RanOn)
	})
	t.Run("speculative", func(t *testing.T) {
		q := url.Values{"prompt": {prompt}, "length": {"48"}, "steps": {"48"}, "seed": {"5"}, "draft": {sample.DraftFrozen},
			"autorun": {"1"}, "pace": {"0"}}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "the speculative sample", finished, e.timeout)
		e.screenshot(t, ctx, "e2e-speculative.png")
		s := e.state(t, ctx)
		type specOut struct {
			Calls    string `json:"calls"`
			Label    string `json:"label"`
			Rows     int    `json:"rows"`
			Accepted int    `json:"accepted"`
			Marked   int    `json:"marked"`
		}
		o, err := chromedp.Run(ctx, chromedp.Evaluate[specOut](`({calls: document.getElementById("view").dataset.targetCalls,
			label: document.getElementById("s-nfe-label").textContent, rows: tdiffDemo.output.targetRows || 0,
			accepted: tdiffDemo.output.accepted || 0,
			marked: document.querySelectorAll("#view .tok.accepted, #view .tok.corrected").length})`))
		if err != nil {
			t.Fatal(err)
		}
		if s.State != "done" || s.Tokens != 48 || s.Masked != 0 || o.Calls != itoa(s.NFE) || o.Label != "Target calls" ||
			s.NFE >= s.Steps || o.Rows < s.NFE || o.Accepted == 0 || o.Marked < o.Accepted {
			t.Errorf("speculative: state %q, %d tokens, %d steps, %d target calls (shown %q, %q), %d rows, %d accepted, %d marked (status %q)",
				s.State, s.Tokens, s.Steps, s.NFE, o.Calls, o.Label, o.Rows, o.Accepted, o.Marked, s.Status)
		}
		t.Logf("speculative: %d tokens, %d steps, %d target calls over %d rows, %d drafted tokens kept; %s", s.Tokens, s.Steps, s.NFE, o.Rows, o.Accepted, s.Status)
		// The plain sampler with the same settings, for the calls and the wall time.
		q.Del("draft")
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "the plain sample", finished, e.timeout)
		p := e.state(t, ctx)
		t.Logf("plain: %d tokens, %d steps, %d network calls, %.1f tokens/s; speculative %.1f tokens/s", p.Tokens, p.Steps, p.NFE, p.TPS, s.TPS)
	})
	t.Run("widget", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/site/embed-example.html")); err != nil {
			t.Fatal(err)
		}
		type widgetOut struct {
			Tokens int    `json:"tokens"`
			Text   string `json:"text"`
			Masked int    `json:"masked"`
			Count  int    `json:"count"`
		}
		out, err := chromedp.Run(ctx, chromedp.Evaluate[widgetOut](`(async () => {
			await customElements.whenDefined("diffusion-demo");
			const el = document.getElementById("demo1");
			const o = await el.generate();
			return { tokens: o.tokens, text: o.text, count: document.querySelectorAll("diffusion-demo").length,
			         masked: el.shadowRoot.querySelectorAll(".tok.masked").length };
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if out.Tokens != 48 || out.Masked != 0 || out.Count != 3 || !strings.HasPrefix(out.Text, "It is a truth") {
			t.Errorf("widget: %+v", out)
		}
		e.screenshot(t, ctx, "e2e-widget.png")
	})
	t.Run("damaged cache", func(t *testing.T) {
		for _, damage := range []string{
			`b.slice(0, b.length - 1000)`,                                           // truncated
			`(() => { const c = b.slice(); c[c.length - 7] ^= 0x20; return c; })()`, // one flipped bit
		} {
			msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
				const c = await caches.open("tdiff-weights-v1");
				const keys = await c.keys();
				if (keys.length !== 1) return "cache holds " + keys.length + " entries";
				const b = new Uint8Array(await (await c.match(keys[0])).arrayBuffer());
				await c.put(keys[0], new Response(`+damage+`));
				return "ok";
			})()`, chromedp.EvalAwaitPromise))
			if err != nil || msg != "ok" {
				t.Fatalf("damaging the cache: %q %v", msg, err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/")); err != nil {
				t.Fatal(err)
			}
			e.waitFor(t, ctx, "the model to load again", readyPred, e.timeout)
			s := e.state(t, ctx)
			if s.Backend == "" || s.Source != "network" || len(s.Notices) != 1 || !strings.Contains(s.Notices[0], "damaged") {
				t.Errorf("after damage %s: backend %q, weights from %q, notices %q", damage, s.Backend, s.Source, s.Notices)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/")); err != nil {
			t.Fatal(err)
		}
		e.waitFor(t, ctx, "the model to load from the repaired cache", readyPred, e.timeout)
		if s := e.state(t, ctx); s.Source != "cache" || len(s.Notices) != 0 {
			t.Errorf("after repair: weights from %q, notices %q", s.Source, s.Notices)
		}
		// Without parameters the page's length and steps are the engine's defaults.
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`["length", "steps"].map((id) => document.getElementById(id).value)`))
		d := engine.DefaultRequest()
		if err != nil || len(got) != 2 || got[0] != strconv.Itoa(d.Length) || got[1] != strconv.Itoa(d.Steps) {
			t.Errorf("length and steps %q (%v), want the engine's %d and %d", got, err, d.Length, d.Steps)
		}
	})
	t.Run("phone", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Do(ctx, chromedp.ResetViewport())
		e.sample(t, ctx, "e2e-phone", 8, "")
		w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		if err != nil || w > 390 {
			t.Errorf("page is %d px wide at a 390 px viewport (%v): it scrolls sideways", w, err)
		}
	})
}
