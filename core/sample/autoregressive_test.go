package sample

import (
	"math"
	"slices"
	"testing"
)

// markov is a causal toy: the next token after t is (t+1)%(v-2) with logit 3, every other
// real token 0 (MASK large, which must be ignored). Only the last row matters to the AR
// sampler, but every row is filled as a causal model would.
func markov(v int) *toy {
	return &toy{v: v, f: func(ids []int32, out []float32) {
		for i, t := range ids {
			row := out[i*v : (i+1)*v]
			for j := range row {
				row[j] = 0
			}
			row[(int(t)+1)%(v-2)] = 3
			row[v-1] = 100
		}
	}}
}

func TestAutoregressiveGreedy(t *testing.T) {
	v := 10
	d := markov(v)
	prompt := []int32{4, 5}
	var seen []int
	r, err := Autoregressive(d, prompt, 6, 0, Options{OnStep: func(step int, ids []int32, committed []int) {
		if len(committed) != 1 || committed[0] != len(prompt)+step-1 {
			t.Errorf("step %d committed %v", step, committed)
		}
		if ids[len(ids)-1] != int32(v-1) && step < 6 {
			t.Errorf("step %d: the tail is not MASK: %v", step, ids)
		}
		seen = append(seen, step)
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{4, 5, 6, 7, 0, 1, 2, 3} // next = (t+1) % 8
	if !slices.Equal(r.IDs, want) || !slices.Equal(r.Generated, want[2:]) {
		t.Fatalf("ids %v generated %v, want %v", r.IDs, r.Generated, want)
	}
	if r.NFE != 6 || d.calls != 6 || r.Steps != 6 || len(seen) != 6 {
		t.Fatalf("NFE %d calls %d steps %d callbacks %d, want 6 each", r.NFE, d.calls, r.Steps, len(seen))
	}
}

func TestAutoregressiveEmptyPromptStartsAtEOT(t *testing.T) {
	v := 10
	d := markov(v)
	var first []int32
	d0 := d.f
	d.f = func(ids []int32, out []float32) {
		if first == nil {
			first = slices.Clone(ids)
		}
		d0(ids, out)
	}
	r, err := Autoregressive(d, nil, 3, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eot := int32(v - 2)
	if !slices.Equal(first, []int32{eot}) {
		t.Fatalf("first input %v, want [EOT]", first)
	}
	// After EOT (8): (8+1)%8 = 1, then 2, 3.
	if !slices.Equal(r.IDs, []int32{1, 2, 3}) {
		t.Fatalf("ids %v", r.IDs)
	}
}

func TestAutoregressiveStopAtEOT(t *testing.T) {
	v := 10
	eot := int32(v - 2)
	// Always predicts EOT after token 2, else 2.
	d := &toy{v: v, f: func(ids []int32, out []float32) {
		for i, t := range ids {
			row := out[i*v : (i+1)*v]
			clear(row)
			if t == 2 {
				row[eot] = 5
			} else {
				row[2] = 5
			}
		}
	}}
	r, err := Autoregressive(d, []int32{1}, 10, 0, Options{StopAtEOT: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.IDs, []int32{1, 2}) || !slices.Equal(r.Generated, []int32{2}) || r.NFE != 2 {
		t.Fatalf("ids %v generated %v NFE %d; want [1 2], [2], 2", r.IDs, r.Generated, r.NFE)
	}
}

// At temperature 1 the first token follows softmax of the last row (MASK excluded): a
// chi-square test over 20,000 draws from a fixed distribution.
func TestAutoregressiveDistribution(t *testing.T) {
	v := 6
	logits := []float32{0, 1, 2, -1, 0.5, 50} // MASK (5) must never be drawn
	d := &toy{v: v, f: func(ids []int32, out []float32) {
		for i := range ids {
			copy(out[i*v:], logits)
		}
	}}
	p := softmax([]float64{0, 1, 2, -1, 0.5})
	const draws = 20000
	counts := make([]float64, v)
	for s := range draws {
		r, err := Autoregressive(d, []int32{0}, 1, 0, Options{Temperature: 1, Seed: uint64(s)})
		if err != nil {
			t.Fatal(err)
		}
		counts[r.Generated[0]]++
	}
	if counts[v-1] != 0 {
		t.Fatalf("MASK drawn %v times", counts[v-1])
	}
	var chi float64
	for j, pj := range p {
		e := pj * draws
		chi += (counts[j] - e) * (counts[j] - e) / e
	}
	// 4 degrees of freedom: P(chi2 > 13.28) = 0.01.
	if chi > 13.28 || math.IsNaN(chi) {
		t.Fatalf("chi-square %v over counts %v, expected %v x %d", chi, counts, p, draws)
	}
}

func TestAutoregressiveErrors(t *testing.T) {
	d := markov(10)
	if _, err := Autoregressive(d, nil, 0, 0, Options{}); err == nil {
		t.Error("n = 0 accepted")
	}
	if _, err := Autoregressive(d, []int32{9}, 2, 0, Options{}); err == nil {
		t.Error("MASK in the prompt accepted")
	}
	if _, err := Autoregressive(d, []int32{1}, 2, 0, Options{Temperature: -1}); err == nil {
		t.Error("negative temperature accepted")
	}
	d.fail = true
	if _, err := Autoregressive(d, []int32{1}, 2, 0, Options{}); err == nil {
		t.Error("denoiser failure not reported")
	}
}
