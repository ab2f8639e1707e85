package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func testScorer(t *testing.T, o Options, v int) *scorer {
	t.Helper()
	c, err := resolve(o, v)
	if err != nil {
		t.Fatal(err)
	}
	return newScorer(&c)
}

func TestConfidenceValues(t *testing.T) {
	row := []float32{1, 3, 2.5, -1, 40} // the last id is MASK: its logit must be ignored
	p := softmax([]float64{1, 3, 2.5, -1})
	var h float64
	for _, x := range p {
		h -= x * math.Log(x)
	}
	for _, c := range []struct {
		conf string
		want float64
	}{{"prob", p[1]}, {"entropy", -h}, {"margin", p[1] - p[2]}} {
		s := testScorer(t, Options{Confidence: c.conf}, 5)
		tok, f, err := s.score(row, nil, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tok != 1 || math.Abs(f-c.want) > 1e-12 {
			t.Errorf("%s: token %d confidence %v, want 1 and %v", c.conf, tok, f, c.want)
		}
	}
	// Guidance: l = l_u + (s+1)(l_c - l_u) with s = 1.
	lu := []float32{0, 2, 0, 0, 0}
	s := testScorer(t, Options{CFGScale: 1}, 5)
	tok, f, err := s.score(row, lu, true, nil)
	g := softmax([]float64{2, 4, 5, -2})
	if err != nil || tok != 2 || math.Abs(f-g[2]) > 1e-12 {
		t.Errorf("guided: token %d confidence %v (%v), want 2 and %v", tok, f, err, g[2])
	}
	// A row with nothing but MASK to offer is an error, not a MASK candidate.
	inf := float32(math.Inf(-1))
	if _, _, err := s.score([]float32{inf, inf, inf, inf, 1}, nil, true, nil); err == nil {
		t.Error("row without a finite non-MASK logit accepted")
	}
}

// Draws at temperature 1 follow softmax; the cuts keep exactly the tokens they should.
func TestDrawsAndCuts(t *testing.T) {
	logits := []float64{math.Log(0.5), math.Log(0.3), math.Log(0.15), math.Log(0.05)}
	row := make([]float32, 5)
	for i, x := range logits {
		row[i] = float32(x)
	}
	row[4] = 30 // MASK
	for _, c := range []struct {
		o    Options
		want []float64
	}{
		{Options{Temperature: 1}, []float64{0.5, 0.3, 0.15, 0.05}},
		{Options{Temperature: 1, TopK: 2}, []float64{0.5 / 0.8, 0.3 / 0.8, 0, 0}},
		{Options{Temperature: 1, TopP: 0.5}, []float64{1, 0, 0, 0}},
		{Options{Temperature: 1, TopP: 0.9}, []float64{0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}},
		// Temperature 0.5 squares the probabilities: 0.25, 0.09, 0.0225, 0.0025 over 0.365.
		{Options{Temperature: 0.5}, []float64{0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365}},
	} {
		s := testScorer(t, c.o, 5)
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 200000
		var counts [5]float64
		for range n {
			tok, _, err := s.score(row, nil, false, rng)
			if err != nil {
				t.Fatal(err)
			}
			counts[tok]++
		}
		for j, w := range c.want {
			got := counts[j] / n
			// 5 standard errors; exact zeros must stay zero.
			if tol := 5 * math.Sqrt(w*(1-w)/n); math.Abs(got-w) > tol || (w == 0 && got != 0) {
				t.Errorf("%+v: token %d drawn %.4f, want %.4f", c.o, j, got, w)
			}
		}
		if counts[4] != 0 {
			t.Errorf("%+v: MASK drawn", c.o)
		}
	}
}

// TestTopPCut: the cut found among the weights over tau is the one a sort of all of them
// finds, on peaked and flat weights, ties at the cut and a tau that is too high.
func TestTopPCut(t *testing.T) {
	naive := func(q []float64, mass float64) float64 {
		s := append([]float64(nil), q...)
		slices.Sort(s)
		acc, cut := 0.0, 0.0
		for i := len(s) - 1; i >= 0 && acc < mass; i-- {
			acc += s[i]
			cut = s[i]
		}
		return cut
	}
	r := rand.New(rand.NewPCG(8, 9))
	for trial := range 300 {
		v := 1 + r.IntN(500)
		q := make([]float64, v)
		peak := []float64{0.3, 3, 12}[trial%3] // flat to peaked
		for j := range q {
			q[j] = math.Exp(peak * r.NormFloat64())
			if trial%5 == 0 {
				q[j] = math.Round(q[j]) // ties
			}
		}
		p := r.Float64()
		var total float64
		for _, x := range q {
			total += x
		}
		want := naive(q, p*total)
		got, ok := topPCut(make([]float64, v), q, (1-p)*total/float64(v), p*total)
		if !ok || got != want {
			t.Fatalf("trial %d (v %d, p %.3f): cut %g (ok %v), a full sort says %g", trial, v, p, got, ok, want)
		}
	}
	if _, ok := topPCut(make([]float64, 3), []float64{1, 2, 3}, 2.5, 4); ok {
		t.Error("weights over tau holding 3 reported reaching 4")
	}
}
