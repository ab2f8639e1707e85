package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBlocksGrad checks the network split at its blocks: vectors in (with and without a
// conditioning added in every block), hidden states out; the gradients at the input, at
// the conditioning and of every tensor but the embedding and the head against finite
// differences of a loss on the hidden states, bidirectional and causal.
func TestBlocksGrad(t *testing.T) {
	for _, v := range []struct{ causal, cond bool }{{false, false}, {false, true}, {true, true}} {
		cfg := tiny(v.causal)
		m, _ := New(cfg, 3)
		rng := rand.New(rand.NewPCG(6, 6))
		for i := range m.Params {
			m.Params[i] += float32(rng.NormFloat64() * 0.3)
		}
		B, L, D := 2, 5, cfg.Dim
		vec := func() []float32 {
			x := make([]float32, B*L*D)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			return x
		}
		x, w := vec(), vec() // the input, and the loss's weights on the hidden states
		var cond []float32
		if v.cond {
			cond = vec()
		}
		loss := func() float64 {
			h := m.BlocksForward(x, B, cond)
			var s float64
			for i, y := range h {
				s += float64(w[i] * y)
			}
			return s
		}
		loss()
		m.ZeroGrad()
		dx, dc := m.BlocksBackward(w)
		dx = append([]float32(nil), dx...)
		if v.cond != (dc != nil) {
			t.Fatalf("cond %v: dcond %v", v.cond, dc != nil)
		}
		dc = append([]float32(nil), dc...)
		grads := append([]float32(nil), m.Grads...)
		checkStep(t, "x", x, dx, loss, wide, 5e-2)
		if v.cond {
			checkStep(t, "cond", cond, dc, loss, wide, 5e-2)
		}
		off := 0
		for _, s := range cfg.Specs() {
			n := s.Size()
			if s.Name != "tok_emb" && s.Name != "head" {
				checkStep(t, s.Name, m.Params[off:off+n], grads[off:off+n], loss, wide, 5e-2)
			} else if nz := nonZero(grads[off : off+n]); nz {
				t.Fatalf("%s got a gradient from a loss on the hidden states", s.Name)
			}
			off += n
		}
	}
}

// Hidden is what the head reads: the head's product of it gives Forward's logits, and
// the blocks on the embedding rows give it too.
func TestHiddenIsTheHeadsInput(t *testing.T) {
	cfg := tiny(false)
	m, _ := New(cfg, 4)
	rng := rand.New(rand.NewPCG(7, 7))
	B, L, D, V := 2, 6, cfg.Dim, cfg.Vocab
	ids := randIDs(rng, B*L, V)
	logits := append([]float32(nil), m.Forward(ids, B)...)
	h := append([]float32(nil), m.Hidden(ids, B)...)
	emb := make([]float32, B*L*D)
	for i, id := range ids {
		copy(emb[i*D:(i+1)*D], m.W.TokEmb[int(id)*D:int(id+1)*D])
	}
	h2 := m.BlocksForward(emb, B, nil)
	for n := 0; n < B*L; n++ {
		for j := 0; j < D; j++ {
			if h[n*D+j] != h2[n*D+j] {
				t.Fatalf("Hidden and BlocksForward of the embedding differ at %d,%d", n, j)
			}
		}
		for v := 0; v < V; v++ {
			var s float64
			for j := 0; j < D; j++ {
				s += float64(h[n*D+j] * m.W.Head[v*D+j])
			}
			if math.Abs(s-float64(logits[n*V+v])) > 1e-4 {
				t.Fatalf("row %d token %d: head(Hidden) %g, Forward %g", n, v, s, logits[n*V+v])
			}
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Backward after BlocksForward did not panic")
			}
		}()
		m.Backward(make([]float32, B*L*V))
	}()
}

// wide is the finite-difference step of TestBlocksGrad: a loss summed over every hidden
// state is about 10 there, and float32's rounding of it (about 1e-6) would swamp a 5e-3
// step's difference for the smaller gradients (about 1e-4).
const wide = 3e-2

func nonZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return true
		}
	}
	return false
}
