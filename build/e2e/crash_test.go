package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// runMark is the run-in-progress mark of site/client.js, read from the page.
const runMark = `localStorage.getItem("tdiff-gpu-run")`

// TestWebGPUCrash kills the tab in the middle of a sample on the GPU, and in another
// browser while the engine starts the GPU (weights upload, self-test), as a mobile browser
// does to a tab that exhausts GPU memory, and checks that the next visit samples on the
// CPU with the GPU left off, says why, and goes back to the GPU when asked.
func TestWebGPUCrash(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name, query, when string // when: a JS predicate that holds at the moment to crash
	}{
		{"mid-sample", url.Values{"prompt": {prompt}, "length": {"32"}, "steps": {"32"}, "seed": {"7"}, "autorun": {"1"},
			"pace": {"250"}, "backend": {"gpu"}}.Encode(), sampling},
		// The GPU starts beside the first samples on the CPU, after the page is ready.
		{"start-up", "backend=gpu", `window.tdiffDemo && window.tdiffDemo.info && window.tdiffDemo.info.gpuPending && ` + runMark + ` !== null`},
	} {
		t.Run(tc.name, func(t *testing.T) { e.crashAndReturn(t, e.browser(t, true), tc.name, tc.query, tc.when) })
	}
}

// crashAndReturn opens the page, kills its renderer once when holds and checks the next
// visit, in a new tab of the same profile.
func (e *env) crashAndReturn(t *testing.T, ctx context.Context, name, query, when string) {
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+query)); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ctx, "the GPU at work", when, e.timeout)
	mark, err := chromedp.Run(ctx, chromedp.Evaluate[*string](runMark))
	if err != nil || mark == nil {
		t.Fatalf("with the GPU at work: run mark %v (%v), want it set", mark, err)
	}
	// The renderer dies at once: no pagehide, no cleanup, as when the system kills it. No
	// answer comes back from a dead renderer, hence the short wait.
	crash, stop := context.WithTimeout(ctx, 3*time.Second)
	_, _ = chromedp.Call(crash, page.Crash, cdp.Empty{})
	stop()
	t.Logf("crashed the tab with the GPU at work (run mark %q)", *mark)

	tab, cancel := chromedp.NewContext(ctx) // a new tab in the same browser and profile
	defer cancel()
	s := e.sample(t, tab, "e2e-after-crash-"+name, 8, "")
	// The GPU stays off (its weights alone may have used the memory up), and the reason is
	// the engine's fallback.
	if s.GPUName != "" || s.RanOn != "CPU (wasm)" || !strings.Contains(s.Fallback, "stopped while sampling on the GPU") {
		t.Errorf("after the crash: sampled on %q, GPU %q, fallback %q: want the CPU with the GPU left off", s.RanOn, s.GPUName, s.Fallback)
	}
	crashNotice := func(texts ...string) bool {
		for _, x := range texts {
			if strings.Contains(x, "stopped while sampling on the GPU") && strings.Contains(x, "backend=gpu") {
				return true
			}
		}
		return false
	}
	if !crashNotice(s.Notices...) {
		t.Errorf("after the crash: notices %q, want the reason and the way back", s.Notices)
	}
	got, err := chromedp.Run(tab, chromedp.Evaluate[[]string](`[document.getElementById("backend-choice").value,
		document.getElementById("backend-hint").textContent]`))
	if err != nil || len(got) != 2 || got[0] != "cpu" || !crashNotice(got[1]) {
		t.Errorf("after the crash: Run on %q (%v), want cpu with the notice by it", got, err)
	}

	// The way back: WebGPU under "Run on" loads the page again with the GPU on.
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`(() => { const c = document.getElementById("backend-choice");
		c.value = "gpu"; c.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	// The old page's context goes away mid-poll, so wait for the new URL by hand first.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		q, err := chromedp.Run(tab, chromedp.Evaluate[string](`location.search`))
		if err == nil && strings.Contains(q, "backend=gpu") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("picking WebGPU under Run on left the page at %q (%v)", q, err)
		}
	}
	e.waitFor(t, tab, "the page again with the GPU on", "("+readyPred+") && "+gpuSettled, e.timeout)
	if s := e.state(t, tab); s.GPUName == "" {
		t.Errorf("after picking WebGPU: no GPU (fallback %q)", s.Fallback)
	}

	// Asked for by name, the GPU runs, and a clean end clears the mark.
	back := e.sample(t, tab, "e2e-gpu-again-"+name, 8, "gpu")
	if back.GPUName == "" || back.RanOn != back.GPUName {
		t.Errorf("with ?backend=gpu after the crash: sampled on %q, want %q", back.RanOn, back.GPUName)
	}
	if mark, err := chromedp.Run(tab, chromedp.Evaluate[*string](runMark)); err != nil || mark != nil {
		t.Errorf("after a clean GPU sample: run mark %v (%v), want it cleared", mark, err)
	}
}

// TestWebGPULost destroys the GPU device in the middle of a sample (through the hook a
// page opened with ?testhooks=1 has) and checks that the sample finishes on the CPU with
// every token, keeps the text written before the loss and says so.
func TestWebGPULost(t *testing.T) {
	e := setup(t)
	ctx := e.browser(t, true)
	q := url.Values{"prompt": {prompt}, "length": {"32"}, "steps": {"32"}, "seed": {"7"}, "autorun": {"1"},
		"pace": {"250"}, "backend": {"gpu"}, "testhooks": {"1"}}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ctx, "the GPU sample a few steps in", `(() => { const v = document.getElementById("view");
		return v.dataset.state === "sampling" && +v.dataset.step >= 6 && +v.dataset.masked > 0; })()`, e.timeout)
	// What the view shows when the device goes: its given and written tokens must stay.
	before, err := chromedp.Run(ctx, chromedp.Evaluate[[][]string](`(() => {
		const shown = [...document.getElementById("view").children].map((s) => [s.className, s.textContent]);
		window.tdiffDemo.loseGPU();
		return shown;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ctx, "the sample to finish after the loss", finished, e.timeout)
	e.screenshot(t, ctx, "e2e-gpu-lost.png")
	s := e.state(t, ctx)
	if s.State != "done" || s.Masked != 0 || s.Tokens != 32 || !strings.HasPrefix(s.Text, prompt) {
		t.Fatalf("after the loss: state %q, %d masked, %d tokens, text %q (status %q)", s.State, s.Masked, s.Tokens, s.Text, s.Status)
	}
	after, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.getElementById("view").children].map((s) => s.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	for i, b := range before {
		written := strings.Contains(b[0], "written") || strings.Contains(b[0], "committed")
		if !written && !strings.Contains(b[0], "given") {
			continue // masked
		}
		if i >= len(after) || after[i] != b[1] {
			t.Errorf("position %d showed %q (%s) before the loss, %q after", i, b[1], b[0], after[i%len(after)])
		}
		if written {
			kept++
		}
	}
	fallback, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.tdiffDemo.output.fallback || ""`))
	if err != nil || !strings.Contains(fallback, "network calls") || s.RanOn != "CPU (wasm)" {
		t.Errorf("ran on %q, fallback %q (%v): want the CPU after the GPU's loss", s.RanOn, fallback, err)
	}
	lost := false
	for _, n := range s.Notices {
		lost = lost || strings.Contains(n, "GPU stopped working")
	}
	if kept == 0 {
		t.Error("no token was written on the view when the GPU was lost: the test checked nothing kept")
	}
	if !lost || !strings.Contains(s.Status, "GPU was lost midway") {
		t.Errorf("notices %q, status %q: want the loss said", s.Notices, s.Status)
	}
	t.Logf("lost the GPU with %d tokens written on the view; %s; text %q", kept, fallback, s.Text)
}
