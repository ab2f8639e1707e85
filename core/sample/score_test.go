package sample

import (
	"math"
	"math/rand/v2"
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
