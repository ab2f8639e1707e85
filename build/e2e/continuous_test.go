package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/austen-diffusion/textdiffusion/core/engine"
)

// continuousRelease is the continuous model the site offers when built with it
// (build/site.sh adds it when the file exists).
const continuousRelease = "weights/austen-tencdm.q8_0.ckpt"

// needContinuous skips unless the built site has a continuous model.
func (e *env) needContinuous(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.site, "site", "assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a struct {
		Continuous *struct{ Name string } `json:"continuous"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("assets.json: %v", err)
	}
	if a.Continuous == nil {
		t.Skipf("continuous page tests skipped: the site has no continuous model; %s is absent (build/site.sh adds it when present, or CONTINUOUS=file)", continuousRelease)
	}
}

// continuousRun is what a continuous sample on the page shows besides pageState.
type continuousRun struct {
	Kind    string  `json:"kind"`
	Seconds float64 `json:"seconds"`
	Mid     string  `json:"mid"`   // the view's text mid-sample
	Moved   int     `json:"moved"` // live views whose text differed from the one before
	Facts   string  `json:"facts"` // the Model and timings panel
	Choice  string  `json:"choice"`
}

// sampleContinuous opens the page on the continuous model with autorun and checks the
// live view and the result: length tokens after the prompt in steps denoiser calls.
func (e *env) sampleContinuous(t *testing.T, name string, steps int, backend string, webgpu bool) (pageState, continuousRun) {
	t.Helper()
	ctx := e.browser(t, webgpu)
	const length = 24
	q := url.Values{"model": {"continuous"}, "prompt": {prompt}, "length": {itoa(length)}, "steps": {itoa(steps)},
		"seed": {"7"}, "autorun": {"1"}, "pace": {"0"}, "backend": {backend}}
	// Every live view's text, to see the estimate change as it is denoised.
	watch := `window.tdiffLive = []; new MutationObserver(() => {
		const v = document.getElementById("view");
		if (v.dataset.state === "sampling") window.tdiffLive.push(v.textContent);
	}).observe(document.getElementById("view"), {subtree: true, childList: true, characterData: true, attributes: true})`
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](watch)); err != nil {
		t.Fatal(err)
	}
	mid := `(() => { const v = document.getElementById("view"); return v.dataset.state === "sampling" && +v.dataset.step >= 2; })()`
	st, s := e.followSample(t, ctx, name, mid)
	midText := ""
	if st.State == "sampling" {
		midText = st.Text
		if st.Masked != 0 || !strings.HasPrefix(st.Text, prompt) || len(st.Text) <= len(prompt) {
			t.Errorf("mid-sample: %d masked, text %q: want every position decoded", st.Masked, st.Text)
		}
	}
	r, err := chromedp.Run(ctx, chromedp.Evaluate[continuousRun](`(() => {
		const live = window.tdiffLive || [];
		let moved = 0;
		for (let i = 1; i < live.length; i++) if (live[i] !== live[i - 1]) moved++;
		return { kind: tdiffDemo.info.kind, seconds: (tdiffDemo.output || {}).seconds || 0, moved,
		         facts: document.getElementById("model-facts").textContent, choice: document.getElementById("model-choice").value };
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	r.Mid = midText
	if s.State != "done" || s.Masked != 0 || s.Tokens != length || !strings.HasPrefix(s.Text, prompt) || len(s.Text) <= len(prompt) {
		t.Fatalf("after sampling: state %q, %d masked, %d tokens, text %q (status %q)", s.State, s.Masked, s.Tokens, s.Text, s.Status)
	}
	if r.Kind != "continuous" || r.Choice != "continuous" || !strings.Contains(r.Facts, "continuous diffusion (TEncDM)") {
		t.Errorf("model %q, selector %q, facts %q: want the continuous model shown", r.Kind, r.Choice, r.Facts)
	}
	if s.NFE != steps || s.Steps != steps || s.StepsShown != steps || r.Moved < 1 {
		t.Errorf("%d denoiser calls, %d steps, %d live views (%d changed the text); want %d of each", s.NFE, s.Steps, s.StepsShown, r.Moved, steps)
	}
	t.Logf("%s: ran on %q, default %q (GPU %q, fallback %q, self-test %.2g, one denoiser call GPU %.3f s, CPU %.3f s); %d tokens in %d steps: %.2f s, %.0f ms a step (decoding each), %.1f tokens/s",
		name, s.RanOn, s.Backend, s.GPUName, s.Fallback, s.SelfTest, s.GPUSecs, s.CPUSecs, s.Tokens, s.Steps, r.Seconds, 1000*r.Seconds/float64(steps), s.TPS)
	t.Logf("%s: mid-sample %q", name, r.Mid)
	t.Logf("%s: text %q", name, s.Text)
	return s, r
}

// TestContinuousWebGPU samples the continuous model on the GPU (SwiftShader here), asked
// for: the page makes the faster backend the default.
func TestContinuousWebGPU(t *testing.T) {
	e := setup(t)
	e.needContinuous(t)
	s, _ := e.sampleContinuous(t, "e2e-continuous-webgpu", 8, "gpu", true)
	if s.GPUName == "" || s.RanOn != s.GPUName {
		t.Errorf("sampled on %q, want WebGPU (GPU %q; fallback: %s)", s.RanOn, s.GPUName, s.Fallback)
	}
	if s.SelfTest < 0 || s.SelfTest > engine.SelfTestTol {
		t.Errorf("self-test max difference %g, want within %g", s.SelfTest, engine.SelfTestTol)
	}
}

// TestContinuousCPU samples the continuous model with no WebGPU adapter, then with the
// widget (model="continuous") on the embedding example page.
func TestContinuousCPU(t *testing.T) {
	e := setup(t)
	e.needContinuous(t)
	s, _ := e.sampleContinuous(t, "e2e-continuous-cpu", engine.ContinuousSteps, "", false)
	if s.GPU || s.RanOn != "CPU (wasm)" || !strings.Contains(s.Fallback, "no WebGPU adapter") {
		t.Errorf("ran on %q (gpu %v, fallback %q), want the CPU for want of an adapter", s.RanOn, s.GPU, s.Fallback)
	}
}

// TestContinuousWidget runs a <diffusion-demo model="continuous"> on the embedding example
// page, beside its masked-model widgets.
func TestContinuousWidget(t *testing.T) {
	e := setup(t)
	e.needContinuous(t)
	ctx := e.browser(t, false)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/site/embed-example.html")); err != nil {
		t.Fatal(err)
	}
	type widgetOut struct {
		Tokens int    `json:"tokens"`
		Steps  int    `json:"steps"`
		NFE    int    `json:"nfe"`
		Text   string `json:"text"`
		Masked int    `json:"masked"`
		Shown  int    `json:"shown"`
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[widgetOut](`(async () => {
		await customElements.whenDefined("diffusion-demo");
		const el = document.createElement("diffusion-demo");
		for (const [k, v] of Object.entries({model: "continuous", prompt: "It is a truth", length: "16", pace: "0", seed: "3"})) el.setAttribute(k, v);
		document.querySelector("main").prepend(el);
		let shown = 0;
		new MutationObserver(() => shown++).observe(el.shadowRoot.querySelector(".stats"), {childList: true, characterData: true, subtree: true});
		const o = await el.generate();
		return { tokens: o.tokens, steps: o.steps, nfe: o.nfe, text: o.text, shown,
		         masked: el.shadowRoot.querySelectorAll(".tok.masked").length };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	// The widget leaves steps to the continuous model's default.
	if out.Tokens != 16 || out.Masked != 0 || out.Steps != engine.ContinuousSteps || out.NFE != out.Steps || out.Shown < 2 || !strings.HasPrefix(out.Text, "It is a truth") {
		t.Errorf("widget: %+v", out)
	}
	e.screenshot(t, ctx, "e2e-continuous-widget.png")
	t.Logf("widget: %q", out.Text)
}
