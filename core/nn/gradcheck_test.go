package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The gradient checks compare every backward kernel with central finite differences of
// a scalar loss sum(out * R), R random, computed in float64 from the float32 forward. A
// relative error above tol on any checked coordinate fails the test, so a wrong sign, a
// missing term or a wrong index in a backward pass cannot pass.

func randn(rng *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

// checkGrad perturbs up to 40 coordinates of x and compares the numeric derivative of loss
// with analytic[i].
func checkGrad(t *testing.T, name string, x, analytic []float32, loss func() float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(x))))
	const h = 1e-2
	worst := 0.0
	for c := 0; c < 40; c++ {
		i := rng.IntN(len(x))
		old := x[i]
		x[i] = old + h
		lp := loss()
		x[i] = old - h
		lm := loss()
		x[i] = old
		num := (lp - lm) / (2 * h)
		an := float64(analytic[i])
		err := math.Abs(num-an) / math.Max(1e-2, math.Abs(num)+math.Abs(an))
		worst = math.Max(worst, err)
		if err > 2e-2 {
			t.Fatalf("%s: coordinate %d: analytic %.6g, numeric %.6g (rel err %.3g)", name, i, an, num, err)
		}
	}
	t.Logf("%s: worst relative error %.2g", name, worst)
}

func TestLinearGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	M, K, N := 5, 7, 3
	in, w, R := randn(rng, M*K, 1), randn(rng, N*K, 1), randn(rng, M*N, 1)
	out := make([]float32, M*N)
	loss := func() float64 { Linear(out, in, w, M, K, N); return dot(out, R) }
	din, dw := make([]float32, M*K), make([]float32, N*K)
	LinearBackward(din, dw, R, in, w, M, K, N)
	checkGrad(t, "Linear din", in, din, loss)
	checkGrad(t, "Linear dw", w, dw, loss)
}

func TestRMSNormGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	M, D := 4, 16
	in, w, R := randn(rng, M*D, 1), randn(rng, D, 1), randn(rng, M*D, 1)
	out, rstd := make([]float32, M*D), make([]float32, M)
	loss := func() float64 { RMSNorm(out, rstd, in, w, M, D, 1e-5); return dot(out, R) }
	loss()
	din, dw := make([]float32, M*D), make([]float32, D)
	RMSNormBackward(din, dw, R, in, w, rstd, M, D)
	checkGrad(t, "RMSNorm din", in, din, loss)
	checkGrad(t, "RMSNorm dw", w, dw, loss)
}

func TestRoPEGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 3))
	B, L, H, hd := 2, 5, 2, 8
	tab := NewRopeTable(L, hd, 10000)
	// ld > H*hd: the heads are the first columns of wider rows, the rest untouched.
	for _, ld := range []int{H * hd, H*hd + 3} {
		x, R := randn(rng, B*L*ld, 1), randn(rng, B*L*ld, 1)
		out := make([]float32, len(x))
		loss := func() float64 { copy(out, x); RoPE(out, ld, tab, B, L, H); return dot(out, R) }
		dx := append([]float32(nil), R...)
		RoPEBackward(dx, ld, tab, B, L, H)
		checkGrad(t, "RoPE", x, dx, loss)
		loss()
		for n := 0; n < B*L; n++ {
			for i := H * hd; i < ld; i++ {
				if out[n*ld+i] != x[n*ld+i] || dx[n*ld+i] != R[n*ld+i] {
					t.Fatalf("ld %d: column %d of row %d changed", ld, i, n)
				}
			}
		}
	}
}

func TestRoPEIsRotation(t *testing.T) {
	// Position 0 is the identity and every position preserves the norm of each pair.
	rng := rand.New(rand.NewPCG(3, 3))
	L, H, hd := 4, 1, 8
	tab := NewRopeTable(L, hd, 10000)
	x := randn(rng, L*H*hd, 1)
	y := append([]float32(nil), x...)
	RoPE(y, H*hd, tab, 1, L, H)
	for i := 0; i < hd; i++ {
		if x[i] != y[i] {
			t.Fatalf("position 0 changed: %v -> %v", x[i], y[i])
		}
	}
	for p := 1; p < L; p++ {
		for i := 0; i < hd/2; i++ {
			a, b := x[p*hd+i], x[p*hd+i+hd/2]
			c, d := y[p*hd+i], y[p*hd+i+hd/2]
			if math.Abs(float64(a*a+b*b-c*c-d*d)) > 1e-4 {
				t.Fatalf("pos %d pair %d norm changed", p, i)
			}
		}
	}
}

func TestAttentionGrad(t *testing.T) {
	for _, causal := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(1, 4))
		B, L, H, hd := 2, 6, 2, 4
		D := H * hd
		// q, k and v as the column blocks of one (B*L, 3D) projection, as the model has them.
		qkv, R := randn(rng, B*L*3*D, 1), randn(rng, B*L*D, 1)
		q, k, v := qkv, qkv[D:], qkv[2*D:]
		out, probs := make([]float32, B*L*D), make([]float32, B*H*L*L)
		loss := func() float64 { Attention(out, probs, q, k, v, 3*D, B, L, H, hd, causal); return dot(out, R) }
		loss()
		dqkv, scratch := make([]float32, B*L*3*D), make([]float32, B*H*L*L)
		AttentionBackward(dqkv, dqkv[D:], dqkv[2*D:], scratch, R, probs, q, k, v, 3*D, B, L, H, hd)
		name := map[bool]string{false: "bidirectional", true: "causal"}[causal]
		checkGrad(t, "Attention dqkv "+name, qkv, dqkv, loss)
	}
}

func TestCausalMaskHidesFuture(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 4))
	L, H, hd := 5, 1, 4
	q, k, v := randn(rng, L*hd, 1), randn(rng, L*hd, 1), randn(rng, L*hd, 1)
	out1, out2, probs := make([]float32, L*hd), make([]float32, L*hd), make([]float32, L*L)
	Attention(out1, probs, q, k, v, hd, 1, L, H, hd, true)
	for i := 3 * hd; i < L*hd; i++ { // change positions 3 and 4
		k[i] += 1
		v[i] -= 2
	}
	Attention(out2, probs, q, k, v, hd, 1, L, H, hd, true)
	for i := 0; i < 3*hd; i++ {
		if out1[i] != out2[i] {
			t.Fatalf("causal attention at position %d saw the future", i/hd)
		}
	}
}

func TestSwiGLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 5))
	N, F := 3, 13 // 13: the vector kernel's 8 lanes and the Go loop's tail in each row
	gu, R := randn(rng, 2*N*F, 2), randn(rng, N*F, 1)
	out := make([]float32, N*F)
	loss := func() float64 { SwiGLU(out, gu, N, F); return dot(out, R) }
	dgu := make([]float32, 2*N*F)
	SwiGLUBackward(dgu, R, gu, N, F)
	checkGrad(t, "SwiGLU dgate dup", gu, dgu, loss)
}

func TestEmbedGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6))
	V, D := 7, 4
	ids := []int32{3, 1, 3, 6, 0}
	tab, R := randn(rng, V*D, 1), randn(rng, len(ids)*D, 1)
	out := make([]float32, len(ids)*D)
	loss := func() float64 { Embed(out, tab, ids, V, D); return dot(out, R) }
	dt := make([]float32, V*D)
	EmbedBackward(dt, R, ids, D)
	checkGrad(t, "Embed", tab, dt, loss)
}

func TestCrossEntropyGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 7))
	N, V := 6, 9
	logits := randn(rng, N*V, 2)
	targets := []int32{0, 8, -1, 4, 4, 2}
	d := make([]float32, N*V)
	CrossEntropy(d, logits, targets, N, V, 0.5)
	loss := func() float64 { return CrossEntropy(nil, logits, targets, N, V, 0.5) }
	checkGrad(t, "CrossEntropy", logits, d, loss)
	for j := 0; j < V; j++ {
		if d[2*V+j] != 0 {
			t.Fatal("ignored row has gradient")
		}
	}
	// Uniform logits give exactly log V per counted row.
	u := make([]float32, N*V)
	if got, want := CrossEntropy(nil, u, targets, N, V, 1), 5*math.Log(float64(V)); math.Abs(got-want) > 1e-9 {
		t.Fatalf("uniform CE %v want %v", got, want)
	}
}
