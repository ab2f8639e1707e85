package model

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// TestInference: a model loaded for inference gives the training model's logits (from an
// f32 and a Q8_0 file) with no gradient arena, no gradient scratch, and refuses Backward.
func TestInference(t *testing.T) {
	for _, dt := range []checkpoint.DType{checkpoint.F32, checkpoint.Q8_0} {
		cfg := tiny(false)
		cfg.Dim, cfg.Hidden = 32, 64 // rows of a whole number of Q8_0 blocks
		src, err := New(cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		f := src.ToFile(nil)
		if dt != checkpoint.F32 {
			if f, err = checkpoint.Quantize(f, dt, nil); err != nil {
				t.Fatal(err)
			}
		}
		train, err := FromFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inf, err := FromFileInference(f)
		if err != nil {
			t.Fatal(err)
		}
		if inf.Grads != nil || inf.G.ByName != nil {
			t.Errorf("%s: inference model has a gradient arena", dt)
		}
		ids := randIDs(rand.New(rand.NewPCG(1, 2)), 2*cfg.SeqLen, cfg.Vocab)
		want := slices.Clone(train.Forward(ids, 2))
		got := inf.Forward(ids, 2)
		if !slices.Equal(got, want) {
			t.Errorf("%s: inference logits differ from the training model's", dt)
		}
		if a := inf.act; a.dx != nil || a.dS != nil || a.dgu != nil {
			t.Errorf("%s: inference forward allocated gradient scratch", dt)
		}
		if dt == checkpoint.Q8_0 {
			w := make([]float32, len(src.W.Head))
			raw := make([]byte, len(w)/32*34)
			quant.QuantizeQ8_0(raw, src.W.Head)
			quant.DequantizeQ8_0(w, raw)
			if !slices.Equal(inf.W.Head, w) {
				t.Error("q8_0 head not dequantised like the reference")
			}
		}
		func() {
			defer func() {
				if r := recover(); r != "model: Backward on an inference-only model" {
					t.Errorf("%s: Backward panicked with %v", dt, r)
				}
			}()
			inf.Backward(make([]float32, len(got)))
		}()
	}
}
