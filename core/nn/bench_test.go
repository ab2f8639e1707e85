package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkAttention is one forward and backward of the demo model's attention: 16
// sequences of 128 positions, 4 heads of 64.
func BenchmarkAttention(b *testing.B) {
	B, L, H, hd := 16, 128, 4, 64
	D := H * hd
	rng := rand.New(rand.NewPCG(1, 1))
	q, k, v, dout := randn(rng, B*L*D, 1), randn(rng, B*L*D, 1), randn(rng, B*L*D, 1), randn(rng, B*L*D, 1)
	out, probs, scratch := make([]float32, B*L*D), make([]float32, B*H*L*L), make([]float32, B*H*L*L)
	dq, dk, dv := make([]float32, B*L*D), make([]float32, B*L*D), make([]float32, B*L*D)
	for b.Loop() {
		Attention(out, probs, q, k, v, D, B, L, H, hd, false)
		AttentionBackward(dq, dk, dv, scratch, dout, probs, q, k, v, D, B, L, H, hd)
	}
}

// BenchmarkSwiGLU is one forward and backward of a demo layer's SwiGLU: (16*128, 768).
func BenchmarkSwiGLU(b *testing.B) {
	N, F := 16*128, 768
	rng := rand.New(rand.NewPCG(1, 2))
	gu, dout := randn(rng, 2*N*F, 2), randn(rng, N*F, 1)
	out, dgu := make([]float32, N*F), make([]float32, 2*N*F)
	for b.Loop() {
		SwiGLU(out, gu, N, F)
		SwiGLUBackward(dgu, dout, gu, N, F)
	}
}
