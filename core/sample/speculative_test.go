package sample

import (
	"fmt"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// batched gives a Denoiser a BatchLogits that runs its sequences one by one but counts as
// one call, as a batched network does.
type batched struct {
	Denoiser
	batches int
}

func (b *batched) BatchLogits(ids []int32, B int) ([]float32, error) {
	b.batches++
	L := len(ids) / B
	var out []float32
	for i := range B {
		l, err := b.Logits(ids[i*L : (i+1)*L])
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	return out, nil
}

// counts infills ids n times (seeds 1000..) with sample and returns the count of each
// sequence of the oracle's table.
func counts(t *testing.T, or *oracle, n int, sample func(seed uint64) ([]int32, error)) []float64 {
	t.Helper()
	out := make([]float64, len(or.p))
	for i := range n {
		ids, err := sample(uint64(i) + 1000)
		if err != nil {
			t.Fatal(err)
		}
		s, mul := 0, 1
		for _, x := range ids {
			s += int(x) * mul
			mul *= or.k
		}
		out[s]++
	}
	return out
}

// pearson is the p-value of Pearson's test of counts against the distribution p (cells of
// p = 0 are left out; an observation there fails the test).
func pearson(t *testing.T, counts, p []float64) float64 {
	t.Helper()
	var n, z, stat float64
	for s := range counts {
		n += counts[s]
		z += p[s]
	}
	cells := 0
	for s, ps := range p {
		if ps == 0 {
			if counts[s] != 0 {
				t.Fatalf("sequence %d has probability 0 and was drawn", s)
			}
			continue
		}
		cells++
		e := ps / z * n
		stat += (counts[s] - e) * (counts[s] - e) / e
	}
	return distuv.ChiSquared{K: float64(cells - 1)}.Survival(stat)
}

// Random order, temperature 1, on exact conditionals reproduces the table; so must the
// speculative sampler, whatever its draft: another table's conditionals (a poor draft), or
// the target's own stale output (frozen). The same test must reject the sampler with a
// planted wrong acceptance rule (min(1, p/q)) or a planted wrong residual (q itself, the
// naive "draw again from the target").
func TestSpeculativeExact(t *testing.T) {
	const l, k, n = 4, 3, 20000 // 81 cells, expected counts >= 60
	opt := Options{Steps: l, Strategy: "random", Temperature: 1, MaskID: k, EOTID: k - 1}
	all := []int32{k, k, k, k}
	wrongAccept := rules{accept: func(q, p float64) float64 { return min(1, p/q) }, residual: exactRules.residual}
	wrongResidual := rules{accept: exactRules.accept, residual: func(out, q, _ []float64) { copy(out, q) }}
	cases := []struct {
		name  string
		draft func() Denoiser // nil: frozen
		k     int
		steps int
		ru    rules
		exact bool
	}{
		{"model draft K=2", func() Denoiser { return newOracle(l, k, 7) }, 2, l, exactRules, true},
		{"model draft K=3", func() Denoiser { return newOracle(l, k, 7) }, 3, l, exactRules, true},
		{"frozen K=3", nil, 3, l, exactRules, true},
		{"model draft K=2, accept min(1, p/q)", func() Denoiser { return newOracle(l, k, 7) }, 2, l, wrongAccept, false},
		{"model draft K=2, residual q", func() Denoiser { return newOracle(l, k, 7) }, 2, l, wrongResidual, false},
		{"frozen K=3, accept min(1, p/q)", nil, 3, l, wrongAccept, false},
	}
	for _, c := range cases {
		target := newOracle(l, k, 42)
		tb := &batched{Denoiser: target}
		var stats SpecResult
		got := counts(t, target, n, func(seed uint64) ([]int32, error) {
			o := opt
			o.Seed, o.Steps = seed, c.steps
			spec := SpecOptions{K: c.k}
			if c.draft != nil {
				spec.Draft = c.draft()
			}
			r, err := speculative(tb, all, o, spec, c.ru)
			stats.CheckedTokens += r.CheckedTokens
			stats.AcceptedTokens += r.AcceptedTokens
			stats.TargetCalls += r.TargetCalls
			stats.Steps += r.Steps
			return r.IDs, err
		})
		p := pearson(t, got, target.p)
		t.Logf("%s: p = %.3g; %d target calls for %d steps, %.3f of %d checked tokens accepted",
			c.name, p, stats.TargetCalls, stats.Steps, float64(stats.AcceptedTokens)/float64(stats.CheckedTokens), stats.CheckedTokens)
		if stats.TargetCalls != tb.batches {
			t.Errorf("%s: %d target calls counted, %d batched calls made", c.name, stats.TargetCalls, tb.batches)
		}
		if c.exact && p <= 0.01 {
			t.Errorf("%s: exact sampler rejected, p = %g", c.name, p)
		}
		if !c.exact && p >= 0.01 {
			t.Errorf("%s: wrong rule not rejected, p = %g", c.name, p)
		}
	}
}

// Where the plain sampler is not the table's (several tokens a step; positions picked by
// confidence), the speculative sampler has the plain sampler's distribution: a two-sample
// test on the oracle at temperature 1.
func TestSpeculativeMatchesPlain(t *testing.T) {
	const l, k, n = 4, 3, 20000
	all := []int32{k, k, k, k}
	wrongAccept := rules{accept: func(q, p float64) float64 { return min(1, p/q) }, residual: exactRules.residual}
	for _, c := range []struct {
		o     Options
		ru    rules
		exact bool
	}{
		{Options{Strategy: "random", Steps: 2}, exactRules, true},
		{Options{Strategy: "low-confidence", Steps: 4}, exactRules, true},
		{Options{Strategy: "low-confidence", Steps: 2, Confidence: "entropy"}, exactRules, true},
		{Options{Strategy: "threshold", Threshold: 0.36, Steps: 4}, exactRules, true},
		{Options{Strategy: "low-confidence", Steps: 4}, wrongAccept, false},
	} {
		o := c.o
		o.Temperature, o.MaskID, o.EOTID = 1, k, k-1
		target := newOracle(l, k, 42)
		plain := counts(t, target, n, func(seed uint64) ([]int32, error) {
			o.Seed = seed
			r, err := Infill(target, all, o)
			return r.IDs, err
		})
		spec := counts(t, target, n, func(seed uint64) ([]int32, error) {
			o.Seed = seed + 1<<32
			r, err := speculative(target, all, o, SpecOptions{Draft: newOracle(l, k, 7), K: 2}, c.ru)
			return r.IDs, err
		})
		// Pearson's two-sample statistic on the cells either sample reached.
		var stat float64
		cells := 0
		for s := range plain {
			if plain[s]+spec[s] == 0 {
				continue
			}
			cells++
			d := plain[s] - spec[s]
			stat += d * d / (plain[s] + spec[s])
		}
		p := distuv.ChiSquared{K: float64(cells - 1)}.Survival(stat)
		t.Logf("%s/%s (exact rules: %v): two-sample p = %.3g over %d cells", o.Strategy, o.Confidence, c.exact, p, cells)
		if c.exact && p <= 0.01 {
			t.Errorf("%s/%s: speculative and plain differ, p = %g", o.Strategy, o.Confidence, p)
		}
		if !c.exact && p >= 0.01 {
			t.Errorf("%s/%s: planted wrong acceptance not rejected, p = %g", o.Strategy, o.Confidence, p)
		}
	}
}

// At temperature 0 the speculative sampler's output is token-identical to the plain
// sampler's, for every strategy and every draft, and its counts add up.
func TestSpeculativeGreedyIdentical(t *testing.T) {
	prompt := []int32{3, 1, 4, 1, 5, 9, 2, 6}
	drafts := map[string]func() Denoiser{
		"frozen":        func() Denoiser { return nil },
		"other network": func() Denoiser { return flipped(noisy(testV)) },
		"same network":  func() Denoiser { return noisy(testV) },
		"uninformative": func() Denoiser { return flat(testV) },
	}
	for _, o := range strategies {
		if o.CFGScale > 0 {
			continue
		}
		for _, steps := range []int{0, 7} {
			for name, mk := range drafts {
				for _, K := range []int{1, 3, 8} {
					o.Steps, o.GenLength, o.Seed, o.Temperature = steps, 23, 11, 0
					ids := append(slices.Clone(prompt), slices.Repeat([]int32{testV - 1}, 23)...)
					want, err := Infill(noisy(testV), ids, o)
					if err != nil {
						t.Fatal(err)
					}
					target := noisy(testV)
					var draft Denoiser
					if d := mk(); d != nil {
						draft = d
					}
					label := fmt.Sprintf("%s/%s steps=%d draft=%s K=%d", o.Strategy, o.Confidence, steps, name, K)
					var seen int
					tb := &batched{Denoiser: target}
					got, err := Speculative(tb, ids, o, SpecOptions{Draft: draft, K: K,
						OnStep: func(_ int, _ []int32, committed []int, origin []Origin) {
							if len(committed) != len(origin) {
								t.Fatalf("%s: %d committed, %d origins", label, len(committed), len(origin))
							}
							seen += len(committed)
						}})
					if err != nil {
						t.Fatalf("%s: %v", label, err)
					}
					if !slices.Equal(got.IDs, want.IDs) {
						t.Fatalf("%s: speculative %v, plain %v", label, got.IDs, want.IDs)
					}
					if got.Steps != want.Steps || seen != 23 {
						t.Errorf("%s: %d steps (plain %d), %d tokens reported", label, got.Steps, want.Steps, seen)
					}
					if got.TargetCalls != tb.batches || got.TargetRows != target.calls || got.NFE != got.TargetCalls || got.TargetCalls != got.Rounds {
						t.Errorf("%s: target calls %d rows %d, denoiser saw %d batches of %d rows, NFE %d, rounds %d",
							label, got.TargetCalls, got.TargetRows, tb.batches, target.calls, got.NFE, got.Rounds)
					}
					if got.CheckedSteps > got.DraftedSteps || got.AcceptedSteps > got.CheckedSteps || got.AcceptedTokens > got.CheckedTokens {
						t.Errorf("%s: inconsistent counts %+v", label, got)
					}
					if name == "same network" && (got.AcceptedSteps != got.CheckedSteps || got.TargetCalls > (want.Steps+K)/(K+1)) {
						t.Errorf("%s: a draft equal to the target had %d of %d steps accepted, %d target calls", label, got.AcceptedSteps, got.CheckedSteps, got.TargetCalls)
					}
					for i, g := range got.Origin {
						if (g == Given) != (i < len(prompt)) {
							t.Fatalf("%s: origin %v at position %d", label, got.Origin, i)
						}
					}
				}
			}
		}
	}
}

// flipped is d with its logits reversed in sign on odd positions: a draft that mostly
// disagrees with d.
func flipped(d *toy) *toy {
	f := d.f
	return &toy{v: d.v, f: func(ids []int32, out []float32) {
		f(ids, out)
		for i := 1; i < len(ids); i += 2 {
			row := out[i*d.v : (i+1)*d.v]
			for j := range row[:d.v-1] {
				row[j] = 4 - row[j]
			}
		}
	}}
}

func TestSpeculativeErrors(t *testing.T) {
	ids := []int32{1, testV - 1, testV - 1}
	for _, c := range []struct {
		name string
		opt  Options
		spec SpecOptions
	}{
		{"K 0", Options{}, SpecOptions{}},
		{"guidance", Options{CFGScale: 1}, SpecOptions{K: 2}},
		{"other vocabulary", Options{}, SpecOptions{K: 2, Draft: noisy(testV + 1)}},
		{"bad strategy", Options{Strategy: "best"}, SpecOptions{K: 2}},
	} {
		if _, err := Speculative(noisy(testV), ids, c.opt, c.spec); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	bad := noisy(testV)
	bad.fail = true
	if _, err := Speculative(noisy(testV), ids, Options{}, SpecOptions{K: 2, Draft: bad}); err == nil {
		t.Error("failing draft: no error")
	}
	if _, err := Speculative(bad, ids, Options{}, SpecOptions{K: 2}); err == nil {
		t.Error("failing target: no error")
	}
}
