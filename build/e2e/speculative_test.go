package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// pageRun is one finished sample as the page reports it.
type pageRun struct {
	pageState
	IDs     []int32 `json:"ids"`
	Rows    int     `json:"rows"` // speculative: the target's sequences evaluated
	Seconds float64 `json:"seconds"`
	Moved   string  `json:"moved"` // why the sample moved from the GPU to the CPU midway
}

// run opens the demo with q (autorun, no pacing) and returns the finished sample.
func (e *env) run(t *testing.T, ctx context.Context, q url.Values) pageRun {
	t.Helper()
	q.Set("autorun", "1")
	q.Set("pace", "0")
	if err := chromedp.Do(ctx, chromedp.Navigate(e.base+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, ctx, "the sample", finished, e.timeout)
	r := pageRun{pageState: e.state(t, ctx)}
	if r.State != "done" {
		t.Fatalf("%v: state %q, status %q", q, r.State, r.Status)
	}
	o, err := chromedp.Run(ctx, chromedp.Evaluate[pageRun](`({ids: tdiffDemo.output.ids, rows: tdiffDemo.output.targetRows || 0,
		seconds: tdiffDemo.output.seconds, moved: tdiffDemo.output.fallback || ""})`))
	if err != nil {
		t.Fatal(err)
	}
	r.IDs, r.Rows, r.Seconds, r.Moved = o.IDs, o.Rows, o.Seconds, o.Moved
	return r
}

// checkSpeculativeGPU runs the same request at temperature 0 with the frozen draft and
// plainly on WebGPU: the tokens must be the same, in fewer target calls, each call one
// batch on the GPU (more sequences than calls; a GPU without batches would make one call
// a sequence).
func (e *env) checkSpeculativeGPU(t *testing.T, ctx context.Context) {
	q := url.Values{"prompt": {prompt}, "length": {"16"}, "steps": {"16"}, "temperature": {"0"}, "strategy": {"random"},
		"seed": {"3"}, "backend": {"gpu"}, "draft": {sample.DraftFrozen}}
	spec := e.run(t, ctx, q)
	q.Del("draft")
	plain := e.run(t, ctx, q)
	if spec.GPUName == "" || spec.RanOn != spec.GPUName || plain.RanOn != spec.GPUName {
		t.Errorf("speculative ran on %q, plain on %q: want the GPU %q (fallback: %s)", spec.RanOn, plain.RanOn, spec.GPUName, spec.Fallback)
	}
	if !slices.Equal(spec.IDs, plain.IDs) || len(spec.IDs) == 0 {
		t.Errorf("temperature 0 on the GPU: speculative wrote %q, plain %q", spec.Text, plain.Text)
	}
	if spec.Steps != plain.Steps || spec.NFE >= plain.NFE || spec.Rows <= spec.NFE {
		t.Errorf("speculative: %d steps, %d target calls over %d sequences; plain: %d steps, %d calls",
			spec.Steps, spec.NFE, spec.Rows, plain.Steps, plain.NFE)
	}
	t.Logf("speculative on %s at temperature 0: %d steps, %d target calls over %d sequences, %.2f s; plain %d calls, %.2f s; text %q",
		spec.RanOn, spec.Steps, spec.NFE, spec.Rows, spec.Seconds, plain.NFE, plain.Seconds, spec.Text)
}

// TestMeasureSpeculative prints the page's timings of speculative sampling (frozen draft,
// the page's K) against the plain sampler, on the CPU (no WebGPU) and on WebGPU, with
// TDIFF_E2E_MEASURE=1 (and TDIFF_E2E=1): the same requests, alternating plain and
// speculative, TDIFF_E2E_SEEDS seeds (default 3) on each backend. Markdown rows for
// weights/speculative.md close the log.
func TestMeasureSpeculative(t *testing.T) {
	if os.Getenv("TDIFF_E2E_MEASURE") != "1" {
		t.Skip("set TDIFF_E2E_MEASURE=1 (and TDIFF_E2E=1) to measure")
	}
	e := setup(t)
	seeds := 3
	if s := os.Getenv("TDIFF_E2E_SEEDS"); s != "" {
		if _, err := fmt.Sscan(s, &seeds); err != nil || seeds < 1 {
			t.Fatalf("TDIFF_E2E_SEEDS=%q: want a count", s)
		}
	}
	const tokens, steps = 64, 64
	var rows []string
	for _, backend := range []string{"cpu", "gpu"} {
		ctx := e.browser(t, backend == "gpu")
		runs := map[bool][]pageRun{}
		var ratios []float64
		for seed := 1; seed <= seeds; seed++ {
			q := url.Values{"prompt": {prompt}, "length": {itoa(tokens)}, "steps": {itoa(steps)}, "temperature": {"1"},
				"strategy": {"random"}, "seed": {itoa(seed)}, "backend": {backend}}
			plain := e.run(t, ctx, q)
			q.Set("draft", sample.DraftFrozen)
			spec := e.run(t, ctx, q)
			for _, r := range []pageRun{plain, spec} {
				if r.Tokens != tokens || r.Moved != "" || (backend == "gpu") != (r.RanOn == r.GPUName && r.GPUName != "") {
					t.Fatalf("%s seed %d: %d tokens on %q (GPU %q; %s)", backend, seed, r.Tokens, r.RanOn, r.GPUName, r.Moved)
				}
			}
			t.Logf("%s seed %d: plain %d calls %.2f s; speculative %d calls over %d sequences, %d steps, %.2f s",
				backend, seed, plain.NFE, plain.Seconds, spec.NFE, spec.Rows, spec.Steps, spec.Seconds)
			runs[false], runs[true] = append(runs[false], plain), append(runs[true], spec)
			ratios = append(ratios, spec.Seconds/plain.Seconds)
		}
		on := runs[false][0].RanOn
		for _, spec := range []bool{false, true} {
			rs := runs[spec]
			draft, ratio, k := "plain", "1.00", "-"
			if spec {
				draft, ratio, k = "`frozen`", fmt.Sprintf("%.2f", median(ratios)), itoa(sample.DefaultK)
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %s | %.1f | %.1f | %.1f | %.2f | %s |", on, draft, k,
				median(field(rs, func(r pageRun) float64 { return float64(r.Steps) })),
				median(field(rs, func(r pageRun) float64 { return float64(r.NFE) })),
				median(field(rs, func(r pageRun) float64 { return float64(max(r.Rows, r.NFE)) })),
				median(field(rs, func(r pageRun) float64 { return r.Seconds })), ratio))
		}
	}
	t.Logf("%d tokens after the prompt in %d steps, random order, temperature 1, seeds 1..%d; medians:\n"+
		"| backend | draft | K | steps | target calls | target rows | s/sample | time ratio |\n|---|---|---:|---:|---:|---:|---:|---:|\n%s",
		tokens, steps, seeds, strings.Join(rows, "\n"))
}

func field(rs []pageRun, f func(pageRun) float64) []float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return v
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
