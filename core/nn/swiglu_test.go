package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestSwiGLUKernels checks SwiGLU and its backward (the vector kernel where the CPU has
// one, the Go loop elsewhere and on each row's tail) against the plain loops in float64,
// on gates from -100 to 100, zeros of both signs included, and that the backward adds.
func TestSwiGLUKernels(t *testing.T) {
	t.Logf("vector kernel: %v", haveAVX2)
	rng := rand.New(rand.NewPCG(3, 9))
	N, F := 4, 37
	gu, dout := randn(rng, 2*N*F, 3), randn(rng, N*F, 1)
	for r := 0; r < N; r++ {
		gu[2*r*F] = float32(100 * (1 - 2*float64(r%2)))
		gu[2*r*F+1] = float32(math.Copysign(0, -1))
		gu[2*r*F+2] = -90
		gu[2*r*F+3] = 0
	}
	out := make([]float32, N*F)
	dgu := randn(rng, 2*N*F, 1)
	before := append([]float32(nil), dgu...)
	SwiGLU(out, gu, N, F)
	SwiGLUBackward(dgu, dout, gu, N, F)
	near := func(what string, i int, got float32, want float64) {
		if math.Abs(float64(got)-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Fatalf("%s[%d] = %.9g, want %.9g", what, i, got, want)
		}
	}
	for r := 0; r < N; r++ {
		for i := 0; i < F; i++ {
			g, u, d := float64(gu[2*r*F+i]), float64(gu[(2*r+1)*F+i]), float64(dout[r*F+i])
			s := 1 / (1 + math.Exp(-g))
			near("out", r*F+i, out[r*F+i], g*s*u)
			near("dgate", r*F+i, dgu[2*r*F+i], float64(before[2*r*F+i])+d*u*s*(1+g*(1-s)))
			near("dup", r*F+i, dgu[(2*r+1)*F+i], float64(before[(2*r+1)*F+i])+d*g*s)
		}
	}
}
