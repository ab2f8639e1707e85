package masked

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// refLoss is a plain float64 reference of Loss, written from the formula.
func refLoss(logits []float32, x0, xt []int32, B, L, V int, times []float64, cfg NoiseConfig, mask int32) (float64, []float64) {
	grad := make([]float64, len(logits))
	norm := float64(B * L)
	if cfg.DivideByMasked {
		norm = 0
		for _, tok := range xt {
			if tok == mask {
				norm++
			}
		}
	}
	var loss float64
	for r := 0; r < B*L; r++ {
		if xt[r] != mask {
			continue
		}
		w := Weight(cfg.Schedule, times[r/L]) / norm
		row := logits[r*V : (r+1)*V]
		m := math.Inf(-1)
		for c, v := range row {
			if c != int(mask) {
				m = math.Max(m, float64(v))
			}
		}
		var z float64
		for c, v := range row {
			if c != int(mask) {
				z += math.Exp(float64(v) - m)
			}
		}
		loss += w * (math.Log(z) + m - float64(row[x0[r]]))
		for c, v := range row {
			if c != int(mask) {
				grad[r*V+c] = w * math.Exp(float64(v)-m) / z
			}
		}
		grad[r*V+int(x0[r])] -= w
	}
	return loss, grad
}

type lossCase struct {
	B, L, V int
	logits  []float32
	x0, xt  []int32
	times   []float64
	mask    int32
	nMasked int
	cfg     NoiseConfig
}

func randomCase(rng *rand.Rand, B, L, V int, mask int32, spread float64) lossCase {
	c := lossCase{B: B, L: L, V: V, mask: mask, cfg: NoiseConfig{Schedule: Linear{}, Eps: 1e-3}}
	c.logits = make([]float32, B*L*V)
	for i := range c.logits {
		c.logits[i] = float32(spread * rng.NormFloat64())
	}
	c.x0 = make([]int32, B*L)
	for i := range c.x0 {
		for c.x0[i] = mask; c.x0[i] == mask; {
			c.x0[i] = int32(rng.IntN(V))
		}
	}
	c.xt = make([]int32, B*L)
	c.times = SampleTimes(rng, B, c.cfg)
	masked := Corrupt(rng, c.x0, B, L, c.times, c.cfg.Schedule, mask, c.xt)
	for _, m := range masked {
		if m {
			c.nMasked++
		}
	}
	return c
}

// TestLossMatchesReference covers the serial and the parallel path, a MASK id that is not the
// last column, both normalisations and large logits.
func TestLossMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		B, L, V int
		mask    int32
		spread  float64
	}{{2, 5, 7, 6, 1}, {3, 4, 9, 0, 3}, {4, 64, 300, 299, 2}, {2, 32, 500, 123, 30}} {
		c := randomCase(rng, tc.B, tc.L, tc.V, tc.mask, tc.spread)
		for _, dbm := range []bool{false, true} {
			c.cfg.DivideByMasked = dbm
			want, wgrad := refLoss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask)
			dl := make([]float32, len(c.logits))
			for i := range dl {
				dl[i] = 99 // must be overwritten everywhere
			}
			got, n := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, dl)
			gotNoGrad, _ := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, nil)
			if n != c.nMasked {
				t.Fatalf("%+v: masked count %d, want %d", tc, n, c.nMasked)
			}
			if math.Abs(got-want) > 1e-6*math.Abs(want) || got != gotNoGrad {
				t.Fatalf("%+v dbm=%v: loss %.9g (no grad %.9g), reference %.9g", tc, dbm, got, gotNoGrad, want)
			}
			var gmax float64
			for _, g := range wgrad {
				gmax = max(gmax, math.Abs(g))
			}
			for i := range dl {
				if math.Abs(float64(dl[i])-wgrad[i]) > 1e-6*gmax {
					t.Fatalf("%+v dbm=%v: dlogits[%d] = %g, reference %g", tc, dbm, i, dl[i], wgrad[i])
				}
				r, col := i/c.V, i%c.V
				if (col == int(c.mask) || c.xt[r] != c.mask) && dl[i] != 0 {
					t.Fatalf("%+v: dlogits[%d] = %g on a MASK column or unmasked row", tc, i, dl[i])
				}
			}
			// LossRows on the masked rows' logits alone: the same loss and gradient rows.
			rows := MaskedRows(nil, c.xt, c.mask)
			sub, dsub := make([]float32, len(rows)*c.V), make([]float32, len(rows)*c.V)
			for i, r := range rows {
				copy(sub[i*c.V:(i+1)*c.V], c.logits[int(r)*c.V:])
			}
			gotRows, nRows := LossRows(sub, rows, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, dsub)
			if nRows != n || math.Abs(gotRows-got) > 1e-12*math.Abs(got) {
				t.Fatalf("%+v dbm=%v: LossRows %.15g over %d rows, Loss %.15g over %d", tc, dbm, gotRows, nRows, got, n)
			}
			for i, r := range rows {
				for j := 0; j < c.V; j++ {
					if dsub[i*c.V+j] != dl[int(r)*c.V+j] {
						t.Fatalf("%+v dbm=%v: LossRows gradient row %d column %d: %g, Loss %g", tc, dbm, r, j, dsub[i*c.V+j], dl[int(r)*c.V+j])
					}
				}
			}
		}
	}
}

func TestLossIndependentOfThreads(t *testing.T) {
	c := randomCase(rand.New(rand.NewPCG(8, 9)), 8, 64, 256, 255, 2)
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	one, _ := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, nil)
	runtime.GOMAXPROCS(4)
	four, _ := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, nil)
	if math.Abs(one-four) > 1e-12*math.Abs(one) {
		t.Fatalf("loss %.15g on 1 thread, %.15g on 4", one, four)
	}
}

// TestLossFiniteDifference: (e) dlogits is the derivative of the returned loss.
func TestLossFiniteDifference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, dbm := range []bool{false, true} {
		c := randomCase(rng, 2, 5, 7, 6, 1.5)
		c.cfg.Schedule = Cosine{}
		c.cfg.DivideByMasked = dbm
		dl := make([]float32, len(c.logits))
		Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, dl)
		for i := range c.logits {
			orig := c.logits[i]
			c.logits[i] = orig + 1e-2
			up := c.logits[i]
			lp, _ := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, nil)
			c.logits[i] = orig - 1e-2
			down := c.logits[i]
			lm, _ := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, nil)
			c.logits[i] = orig
			fd := (lp - lm) / float64(up-down)
			if math.Abs(fd-float64(dl[i])) > 1e-4+1e-3*math.Abs(fd) {
				t.Fatalf("dbm=%v: dlogits[%d] = %.7g, finite difference %.7g", dbm, i, dl[i], fd)
			}
			r, col := i/c.V, i%c.V
			if (col == int(c.mask) || c.xt[r] != c.mask) && (lp != lm || dl[i] != 0) {
				t.Fatalf("dbm=%v: logit %d (MASK column or unmasked row) changes the loss or has gradient %g", dbm, i, dl[i])
			}
		}
	}
}

func TestLossNothingMasked(t *testing.T) {
	c := randomCase(rand.New(rand.NewPCG(1, 1)), 2, 3, 4, 3, 1)
	copy(c.xt, c.x0)
	dl := make([]float32, len(c.logits))
	dl[0] = 5
	c.cfg.DivideByMasked = true // 0/0 must not appear
	loss, n := Loss(c.logits, c.x0, c.xt, c.B, c.L, c.V, c.times, c.cfg, c.mask, dl)
	if loss != 0 || n != 0 || dl[0] != 0 {
		t.Fatalf("nothing masked: loss %g, count %d, dlogits[0] %g", loss, n, dl[0])
	}
}

func TestCrossEntropy(t *testing.T) {
	const V = 6
	logits := []float32{
		1, 2, 3, 4, 5, 6,
		0, 0, 0, 0, 0, 0,
		-1e3, 1e3, 0, 0, 0, 0,
	}
	got := CrossEntropy(logits, []int32{5, 2, -1}, V)
	var z float64
	for i := range 6 {
		z += math.Exp(float64(i + 1))
	}
	want := (math.Log(z) - 6) + math.Log(6)
	if math.Abs(got-want) > 1e-6 {
		t.Fatalf("CrossEntropy %.9f, want %.9f", got, want)
	}
	if got := CrossEntropy(logits[12:], []int32{0}, V); math.Abs(got-2e3) > 1e-3 {
		t.Fatalf("CrossEntropy with extreme logits %g, want 2000", got)
	}
}

func TestELBOErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ok := func([]int32) ([]float32, error) { return make([]float32, 3*4), nil }
	short := func([]int32) ([]float32, error) { return make([]float32, 5), nil }
	for name, f := range map[string]func() error{
		"empty":      func() error { _, _, err := ELBO(ok, nil, 4, 3, 8, rng); return err },
		"draws":      func() error { _, _, err := ELBO(ok, []int32{0, 1, 2}, 4, 3, 1, rng); return err },
		"mask in x0": func() error { _, _, err := ELBO(ok, []int32{0, 3, 2}, 4, 3, 8, rng); return err },
		"bad mask":   func() error { _, _, err := ELBO(ok, []int32{0, 1, 2}, 4, 4, 8, rng); return err },
		"shape":      func() error { _, _, err := ELBO(short, []int32{0, 1, 2}, 4, 3, 8, rng); return err },
	} {
		if f() == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestELBOStrata checks that the draws of one call cover the mask counts evenly, as LLaDA's scheme intends.
func TestELBOStrata(t *testing.T) {
	const L, V, draws = 5, 3, 20
	rng := rand.New(rand.NewPCG(3, 3))
	counts := map[int]int{}
	fn := func(xt []int32) ([]float32, error) {
		m := 0
		for _, tok := range xt {
			if tok == V-1 {
				m++
			}
		}
		counts[m]++
		return make([]float32, L*V), nil
	}
	if _, _, err := ELBO(fn, []int32{0, 1, 0, 1, 1}, V, V-1, draws, rng); err != nil {
		t.Fatal(err)
	}
	for l := 1; l <= L; l++ {
		if counts[l] != draws/L {
			t.Fatalf("mask counts per draw %v, want %d of each of 1..%d", counts, draws/L, L)
		}
	}
}

func benchLoss(b *testing.B, grad bool) {
	const B, L, V = 32, 128, 4096
	c := randomCase(rand.New(rand.NewPCG(1, 2)), B, L, V, V-1, 3)
	for i := range c.times { // 50% masked on average, as over training
		c.times[i] = 0.5
	}
	Corrupt(rand.New(rand.NewPCG(3, 4)), c.x0, B, L, c.times, Linear{}, c.mask, c.xt)
	var dl []float32
	if grad {
		dl = make([]float32, len(c.logits))
	}
	b.SetBytes(int64(len(c.logits) * 4))
	b.ResetTimer()
	for range b.N {
		Loss(c.logits, c.x0, c.xt, B, L, V, c.times, c.cfg, c.mask, dl)
	}
}

// BenchmarkLoss is one training step's loss on (B*L=4096, V=4096) logits, half masked.
func BenchmarkLoss(b *testing.B)     { benchLoss(b, false) }
func BenchmarkLossGrad(b *testing.B) { benchLoss(b, true) }
