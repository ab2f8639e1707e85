package e2e

import (
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestMeasure prints the figures for the README (TDIFF_E2E_MEASURE=1 as well): time to
// the first sample from a fresh profile, and tokens/s over repeated samples of 32 tokens
// in 32 steps, on the CPU (no WebGPU) and on WebGPU.
func TestMeasure(t *testing.T) {
	if os.Getenv("TDIFF_E2E_MEASURE") != "1" {
		t.Skip("set TDIFF_E2E_MEASURE=1 (and TDIFF_E2E=1) to measure")
	}
	e := setup(t)
	for _, backend := range []string{"cpu", "gpu"} {
		t.Run(backend, func(t *testing.T) {
			ctx := e.browser(t, backend == "gpu")
			q := url.Values{"prompt": {prompt}, "length": {"32"}, "steps": {"32"}, "temperature": {"0.8"},
				"seed": {"1"}, "autorun": {"1"}, "pace": {"0"}, "backend": {backend}}
			if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
				t.Fatal(err)
			}
			e.waitFor(t, ctx, "the first sample", finished, e.timeout)
			first := e.state(t, ctx)
			if first.State != "done" {
				t.Fatalf("state %q: %s", first.State, first.Status)
			}
			rates := []float64{first.TPS}
			for range 3 {
				if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("go").click()`)); err != nil {
					t.Fatal(err)
				}
				e.waitFor(t, ctx, "sampling to start", `document.getElementById("view").dataset.state === "sampling"`, e.timeout)
				e.waitFor(t, ctx, "the sample", finished, e.timeout)
				s := e.state(t, ctx)
				if s.State != "done" {
					t.Fatalf("state %q: %s", s.State, s.Status)
				}
				rates = append(rates, s.TPS)
			}
			slices.Sort(rates)
			t.Logf("%s on %q: engine ready at %.2f s, first sample (32 tokens, 32 steps) done at %.2f s after navigation; "+
				"tokens/s over 4 samples: %.3g (median %.3g); self-test pass GPU %.3f s, CPU %.3f s",
				backend, first.RanOn, first.Ready, first.First, rates, (rates[1]+rates[2])/2, first.GPUSecs, first.CPUSecs)
		})
	}
}
