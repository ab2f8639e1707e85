package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/austen-diffusion/textdiffusion/core/engine"
)

// span is one entry of the page's timeline (site/client.js spans): what ran from start
// to end, in seconds after the page's navigation.
type span struct {
	Name  string  `json:"name"`
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// timeline renders spans one a line, in order of start, for the test log.
func timeline(spans []span) string {
	spans = slices.Clone(spans)
	slices.SortStableFunc(spans, func(a, b span) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n    %-28s %6.3f s  (%.3f - %.3f s)", s.Name, s.End-s.Start, s.Start, s.End)
	}
	return b.String()
}

// firstSampleSpans are the spans every first visit's timeline holds (besides the
// weights' source and the engine's phases): the page test fails when one goes missing.
var firstSampleSpans = []string{"assets.json", "wasm fetch and compile", "engine start", "first step", "sample", "first step shown", "first sample shown"}

// TestFirstSample opens the page with its default settings and autorun, on a fresh
// profile (weights from the server) and again with the weights cached, without and with
// WebGPU, and prints when the first sample was on screen after navigation and the timeline
// that led there (a measurement, not an assertion: the shared machine's load moves it).
// "First step shown" is the first denoised step in the view; "first sample shown" is the
// finished text, after the view has played the steps at its viewing pace.
func TestFirstSample(t *testing.T) {
	e := setup(t)
	d := engine.DefaultRequest()
	for _, v := range []struct {
		name   string
		webgpu bool
		query  string
	}{{"cpu-only", false, ""}, {"cpu-only-one-thread", false, "&threads=1"}, {"webgpu", true, ""}} {
		name := v.name
		t.Run(name, func(t *testing.T) {
			ctx := e.browser(t, v.webgpu)
			for _, visit := range []string{"fresh", "cached"} {
				if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?autorun=1"+v.query)); err != nil {
					t.Fatal(err)
				}
				e.waitFor(t, ctx, "the first sample", finished, e.timeout)
				s := e.state(t, ctx)
				want := map[string]string{"fresh": "network", "cached": "cache"}[visit]
				if s.State != "done" || s.Tokens > d.Length || s.Source != want {
					t.Fatalf("%s visit: state %q, %d tokens (default %d), weights from %q (want %s); status %q", visit, s.State, s.Tokens, d.Length, s.Source, want, s.Status)
				}
				for _, n := range firstSampleSpans {
					if !slices.ContainsFunc(s.Spans, func(x span) bool { return x.Name == n }) {
						t.Errorf("%s visit: no %q on the timeline: %s", visit, n, timeline(s.Spans))
					}
				}
				threads := fmt.Sprintf("%d threads", s.Threads)
				if s.Threads <= 1 {
					threads = "one thread: " + s.ThreadsWhy
				}
				t.Logf("%s, %s visit, %d tokens in %d steps on %s (products on %s): ready at %.2f s, first step shown at %.2f s, "+
					"first sample at %.2f s after navigation; timeline:%s",
					name, visit, s.Tokens, s.Steps, s.RanOn, threads, s.Ready, s.FirstStep, s.First, timeline(s.Spans))
				// The "Model and timings" panel lists the same timeline.
				rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => { const d = document.getElementById("about-model");
					d.open = true; d.scrollIntoView(); return document.querySelectorAll("#timings > div").length; })()`))
				if err != nil || rows < len(s.Spans) { // more may have come since
					t.Errorf("%s visit: the panel lists %d spans (%v), the timeline holds %d", visit, rows, err, len(s.Spans))
				}
				e.screenshot(t, ctx, "e2e-timeline-"+name+"-"+visit+".png")
			}
		})
	}
}
