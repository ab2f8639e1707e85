package sample

import (
	"errors"
	"math"
)

// toy is a Denoiser defined by a function filling one (len(ids), v) buffer, which it reuses
// between calls on purpose (the sampler must copy). It counts its calls.
type toy struct {
	v     int
	f     func(ids []int32, out []float32)
	calls int
	buf   []float32
	fail  bool
}

func (t *toy) Vocab() int { return t.v }

func (t *toy) Logits(ids []int32) ([]float32, error) {
	t.calls++
	if t.fail {
		return nil, errors.New("toy failure")
	}
	if cap(t.buf) < len(ids)*t.v {
		t.buf = make([]float32, len(ids)*t.v)
	}
	t.buf = t.buf[:len(ids)*t.v]
	t.f(ids, t.buf)
	return t.buf, nil
}

// noisy gives varied logits in [0,4) that depend on the position, the token and the whole
// input, with a large MASK logit (which SUBS must ignore).
func noisy(v int) *toy {
	return &toy{v: v, f: func(ids []int32, out []float32) {
		h := uint64(1469598103934665603)
		for _, t := range ids {
			h = (h ^ uint64(t)) * 1099511628211
		}
		for i := range ids {
			for j := range v {
				x := h ^ uint64(i*v+j+1)*0x9e3779b97f4a7c15
				x ^= x >> 29
				x *= 0xbf58476d1ce4e5b9
				x ^= x >> 32
				out[i*v+j] = float32(x%4000) / 1000
			}
			out[i*v+v-1] = 100
		}
	}}
}

// peaked predicts token i%(v-2) at position i with probability near 1, and a large MASK logit.
func peaked(v int) *toy {
	return &toy{v: v, f: func(ids []int32, out []float32) {
		for i := range ids {
			row := out[i*v : (i+1)*v]
			for j := range row {
				row[j] = 0
			}
			row[i%(v-2)] = 12
			row[v-1] = 100
		}
	}}
}

// flat gives equal logits to every token but MASK.
func flat(v int) *toy {
	return &toy{v: v, f: func(ids []int32, out []float32) {
		for i := range out {
			out[i] = 1
		}
	}}
}

func nonZero(g []int) []int {
	var out []int
	for _, k := range g {
		if k != 0 {
			out = append(out, k)
		}
	}
	return out
}

func softmax(l []float64) []float64 {
	m := math.Inf(-1)
	for _, x := range l {
		m = math.Max(m, x)
	}
	p := make([]float64, len(l))
	var s float64
	for i, x := range l {
		p[i] = math.Exp(x - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}
