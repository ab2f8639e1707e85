package sample

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

// oracle is a Denoiser for an explicit distribution over all sequences of length l over k
// tokens (vocabulary k+1, MASK = k): at each masked position it returns the log of the exact
// conditional p(x_i | the unmasked tokens), and a MASK logit of 50 that SUBS must ignore.
type oracle struct {
	l, k  int
	p     []float64 // (k^l) probabilities; sequence index is sum x_i k^i
	calls int
}

func newOracle(l, k int, seed uint64) *oracle {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := int(math.Pow(float64(k), float64(l)))
	o := &oracle{l: l, k: k, p: make([]float64, n)}
	var sum float64
	for i := range o.p {
		o.p[i] = 0.3 + 1.7*rng.Float64() // every cell well populated, with real correlations
		sum += o.p[i]
	}
	for i := range o.p {
		o.p[i] /= sum
	}
	return o
}

func (o *oracle) Vocab() int { return o.k + 1 }

func (o *oracle) digit(s, i int) int {
	for range i {
		s /= o.k
	}
	return s % o.k
}

func (o *oracle) Logits(ids []int32) ([]float32, error) {
	o.calls++
	v := o.k + 1
	out := make([]float32, len(ids)*v)
	marg := make([]float64, len(ids)*o.k) // (l, k) mass of consistent sequences by x_i
	for s, p := range o.p {
		ok := true
		for i, t := range ids {
			if int(t) != o.k && o.digit(s, i) != int(t) {
				ok = false
				break
			}
		}
		if ok {
			for i := range ids {
				marg[i*o.k+o.digit(s, i)] += p
			}
		}
	}
	for i, t := range ids {
		if int(t) != o.k {
			out[i*v+int(t)] = 10 // carry-over; never read by the sampler
			continue
		}
		for j := range o.k {
			out[i*v+j] = float32(math.Log(marg[i*o.k+j]))
		}
		out[i*v+o.k] = 50
	}
	return out, nil
}

// chiSquare infills ids n times with o and returns the p-value of Pearson's test against the
// oracle's table conditioned on the given tokens of ids.
func chiSquare(t *testing.T, or *oracle, ids []int32, opt Options, n int) float64 {
	t.Helper()
	counts := make([]float64, len(or.p))
	for i := range n {
		opt.Seed = uint64(i) + 1000
		r, err := Infill(or, ids, opt)
		if err != nil {
			t.Fatal(err)
		}
		s, mul := 0, 1
		for _, x := range r.IDs {
			s += int(x) * mul
			mul *= or.k
		}
		counts[s]++
	}
	cond := make([]float64, len(or.p)) // the table restricted to sequences agreeing with ids
	var z float64
	cells := 0
	for s, p := range or.p {
		ok := true
		for i, t := range ids {
			if int(t) != or.k && or.digit(s, i) != int(t) {
				ok = false
			}
		}
		if ok {
			cond[s] = p
			z += p
			cells++
		}
	}
	var stat float64
	for s, p := range cond {
		if p == 0 {
			if counts[s] != 0 {
				t.Fatalf("sampled sequence %d disagrees with the given tokens", s)
			}
			continue
		}
		e := p / z * float64(n)
		stat += (counts[s] - e) * (counts[s] - e) / e
	}
	return distuv.ChiSquared{K: float64(cells - 1)}.Survival(stat)
}

// Random unmasking, one token per step, temperature 1 (Gumbel-max = exact softmax draws) on
// exact conditionals is ancestral sampling in a random order: it must reproduce the table.
// The same test must reject samplers that are known to be wrong.
func TestOracleDistribution(t *testing.T) {
	const l, k, n = 4, 3, 12000 // 81 cells, expected counts >= 40
	base := Options{GenLength: l, Steps: l, Strategy: "random", Temperature: 1, MaskID: k, EOTID: k - 1}
	const m = k // MASK
	all := []int32{m, m, m, m}
	cases := []struct {
		name   string
		ids    []int32
		change func(*Options)
		exact  bool
	}{
		{"random T=1", all, func(*Options) {}, true},
		{"random T=1, blocks of 2", all, func(o *Options) { o.BlockLength = 2 }, true},
		{"random T=1, infill x0=2, x2=0", []int32{2, m, 0, m}, func(o *Options) { o.Steps = 2 }, true},
		{"temperature 0.5", all, func(o *Options) { o.Temperature = 0.5 }, false},
		{"all tokens in one step (product of marginals)", all, func(o *Options) { o.Steps = 1 }, false},
		{"low-confidence order", all, func(o *Options) { o.Strategy = "low-confidence" }, false},
	}
	for _, c := range cases {
		or := newOracle(l, k, 42)
		o := base
		c.change(&o)
		p := chiSquare(t, or, c.ids, o, n)
		t.Logf("%s: p = %.3g, %d calls", c.name, p, or.calls)
		if c.exact && p <= 0.01 {
			t.Errorf("%s: exact sampler rejected, p = %g", c.name, p)
		}
		if !c.exact && p >= 0.01 {
			t.Errorf("%s: biased sampler not rejected, p = %g", c.name, p)
		}
	}
}
