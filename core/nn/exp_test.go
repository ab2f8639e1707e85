package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// worstExp is the largest relative error of exp against math.Exp on a million points of
// [-87.3, 0].
func worstExp(exp func(float32) float64) float64 {
	worst := 0.0
	for i := 0; i <= 1000000; i++ {
		x := float32(-87.3 * float64(i) / 1000000)
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(exp(x)-want)/want)
	}
	return worst
}

func TestExpKernel(t *testing.T) {
	if worst := worstExp(func(x float32) float64 { return ExpNeg(float64(x)) }); worst > 1e-12 {
		t.Fatalf("exp kernel worst relative error %.3g, want <= 1e-12", worst)
	}
	for _, c := range [][2]float64{{0, 1}, {-1, 1 / math.E}, {-700, math.Exp(-700)}, {-709, 0}, {math.Inf(-1), 0}} {
		if got, want := ExpNeg(c[0]), c[1]; math.Abs(got-want) > 1e-13*want {
			t.Errorf("ExpNeg(%v) = %v, want %v", c[0], got, want)
		}
	}
	if !math.IsNaN(ExpNeg(math.NaN())) {
		t.Error("ExpNeg(NaN) is not NaN")
	}
	// The unrolled loops, odd lengths included, against the plain loop.
	for _, n := range []int{0, 1, 2, 7, 64, 301} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%13) - 11.5
		}
		var want float64
		for _, v := range x {
			want += math.Exp(float64(v - 1.5))
		}
		dst := make([]float32, n)
		s1, s2 := ExpSum(x, 1.5), ExpStore(dst, x, 1.5)
		if math.Abs(s1-want) > 1e-12*want || s1 != s2 {
			t.Fatalf("n=%d: expSum %.15g expStore %.15g, want %.15g", n, s1, s2, want)
		}
		for i, v := range x {
			if e := math.Exp(float64(v - 1.5)); math.Abs(float64(dst[i])-e) > 1e-7*e {
				t.Fatalf("n=%d: dst[%d] = %g, want %g", n, i, dst[i], e)
			}
		}
	}
}

func TestExpNeg32(t *testing.T) {
	if worst := worstExp(func(x float32) float64 { return float64(expNeg32(x)) }); worst > 3e-7 {
		t.Fatalf("expNeg32 worst relative error %.3g, want <= 3e-7 (about 2 ulp)", worst)
	}
	for _, x := range []float32{-88, -1000, float32(math.Inf(-1)), float32(math.NaN())} {
		if got := expNeg32(x); got != 0 {
			t.Errorf("expNeg32(%v) = %v, want 0", x, got)
		}
	}
	if got := expNeg32(0); got != 1 {
		t.Errorf("expNeg32(0) = %v, want 1", got)
	}
}

// TestExpShift checks the softmax exponentials (the vector kernel and the Go tail)
// against float64 on rows of several lengths, far-below-max entries included.
func TestExpShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, n := range []int{1, 7, 8, 29, 128} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64() * 20)
		}
		x[n/2] = -1e4
		m := float32(math.Inf(-1))
		for _, v := range x {
			m = max(m, v)
		}
		want := make([]float64, n)
		var wsum float64
		for i, v := range x {
			want[i] = math.Exp(float64(v - m))
			wsum += want[i]
		}
		sum := ExpShift(x, m)
		if math.Abs(float64(sum)-wsum) > 1e-6*wsum {
			t.Fatalf("n=%d: sum %.9g, want %.9g", n, sum, wsum)
		}
		for i := range x {
			if math.Abs(float64(x[i])-want[i]) > 3e-7*want[i]+1e-37 {
				t.Fatalf("n=%d: x[%d] = %.9g, want %.9g", n, i, x[i], want[i])
			}
		}
	}
}

var sink float64

func BenchmarkExpSum(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	b.SetBytes(int64(len(x) * 4))
	var s float64
	for range b.N {
		s += ExpSum(x, 0)
	}
	sink = s
}

// BenchmarkExpSumMath is the plain math.Exp loop that ExpSum replaces, for comparison.
func BenchmarkExpSumMath(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	b.SetBytes(int64(len(x) * 4))
	var s float64
	for range b.N {
		for _, v := range x {
			s += math.Exp(float64(v))
		}
	}
	sink = s
}
