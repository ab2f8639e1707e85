package model

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// A batch of B sequences gives each sequence's own logits (attention never crosses
// sequences), up to the rounding of a different GEMM shape.
func TestBatchLogitsMatchesOneByOne(t *testing.T) {
	cfg := tiny(false)
	cfg.Shift = true
	m, _ := New(cfg, 5)
	rng := rand.New(rand.NewPCG(6, 6))
	const B, L = 3, 7
	ids := randIDs(rng, B*L, cfg.Vocab)
	out, err := m.BatchLogits(ids, B)
	if err != nil {
		t.Fatal(err)
	}
	out = slices.Clone(out)
	for b := range B {
		one, err := m.Logits(ids[b*L : (b+1)*L])
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range one {
			if y := out[b*L*cfg.Vocab+i]; math.Abs(float64(x-y)) > 1e-5 {
				t.Fatalf("sequence %d logit %d: batched %v, alone %v", b, i, y, x)
			}
		}
	}
	for _, c := range []struct {
		ids []int32
		B   int
	}{{ids, 4}, {ids, 0}, {[]int32{1, int32(cfg.Vocab)}, 1}, {make([]int32, 2*(cfg.SeqLen+1)), 2}} {
		if _, err := m.BatchLogits(c.ids, c.B); err == nil {
			t.Errorf("%d ids in %d sequences accepted", len(c.ids), c.B)
		}
	}
}

// Early exit after every block is the model itself; after fewer blocks it is the network
// with those blocks, the final norm and the head, sharing the weights.
func TestEarlyExit(t *testing.T) {
	cfg := tiny(false)
	cfg.Layers = 3
	m, _ := New(cfg, 7)
	ids := randIDs(rand.New(rand.NewPCG(8, 8)), 6, cfg.Vocab)
	full, _ := m.Logits(ids)
	same, err := m.EarlyExit(3)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := same.Logits(ids); !slices.Equal(got, full) {
		t.Error("early exit after every block differs from the model")
	}
	short, err := m.EarlyExit(1)
	if err != nil {
		t.Fatal(err)
	}
	want := cfg
	want.Layers = 1
	ref, _ := Empty(want)
	for _, s := range want.Specs() {
		copy(ref.W.ByName[s.Name], m.W.ByName[s.Name])
	}
	a, _ := short.Logits(ids)
	b, _ := ref.Logits(ids)
	if !slices.Equal(a, b) {
		t.Error("early exit after one block differs from a one-block model with the same weights")
	}
	for _, n := range []int{0, 4} {
		if _, err := m.EarlyExit(n); err == nil {
			t.Errorf("early exit after %d of 3 blocks accepted", n)
		}
	}
}
