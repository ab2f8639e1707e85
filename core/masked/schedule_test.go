package masked

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSchedules(t *testing.T) {
	for _, name := range []string{"linear", "cosine", "loglinear", "Log-Linear"} {
		s, err := ScheduleByName(name)
		if err != nil {
			t.Fatal(err)
		}
		eps := 0.0
		if ll, ok := s.(LogLinear); ok {
			eps = ll.Eps
		}
		if math.Abs(s.Alpha(0)-1) > 1e-15 || math.Abs(s.Alpha(1)-eps) > 1e-15 {
			t.Errorf("%s: alpha(0)=%g alpha(1)=%g", s.Name(), s.Alpha(0), s.Alpha(1))
		}
		for _, tt := range []float64{0.01, 0.2, 0.5, 0.77, 0.99} {
			const h = 1e-6
			fd := (s.Alpha(tt+h) - s.Alpha(tt-h)) / (2 * h)
			if math.Abs(fd-s.DAlpha(tt)) > 1e-6 {
				t.Errorf("%s: alpha'(%g) = %g, finite difference %g", s.Name(), tt, s.DAlpha(tt), fd)
			}
			if s.DAlpha(tt) >= 0 {
				t.Errorf("%s: alpha not decreasing at %g", s.Name(), tt)
			}
		}
	}
	for _, tt := range []float64{1e-3, 0.1, 0.5, 1} {
		if w := Weight(Linear{}, tt); math.Abs(w-1/tt) > 1e-12/tt {
			t.Errorf("linear weight at %g = %g, want 1/t", tt, w)
		}
		if w := Weight(LogLinear{Eps: 1e-3}, tt); math.Abs(w-1/tt) > 1e-9/tt {
			t.Errorf("loglinear weight at %g = %g, want 1/t", tt, w)
		}
	}
	if w := Weight(Cosine{}, 1e-4); math.Abs(w*1e-4-2) > 1e-3 {
		t.Errorf("cosine weight near 0: %g, want about 2/t", w)
	}
	if _, err := ScheduleByName("sqrt"); err == nil {
		t.Error("unknown schedule: no error")
	}
}

func TestSampleTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const B, eps = 16, 1e-3
	base := NoiseConfig{Schedule: Linear{}, Eps: eps}

	anti := base
	anti.Antithetic = true
	ts := SampleTimes(rng, B, anti)
	// Undo the clipping: the u_i must be one draw shifted by i/B, mod 1.
	u0 := (ts[0] - eps) / (1 - eps)
	for i, tt := range ts {
		u := (tt - eps) / (1 - eps)
		want := math.Mod(u0+float64(i)/B, 1)
		if math.Abs(u-want) > 1e-12 {
			t.Fatalf("antithetic u[%d] = %g, want %g", i, u, want)
		}
	}

	single := base
	single.SingleRatioPerSequence = true
	ts = SampleTimes(rng, B, single)
	for _, tt := range ts {
		if tt != ts[0] {
			t.Fatalf("single ratio: times %v differ", ts)
		}
	}

	// Independent and antithetic: every t in [eps, 1], mean 1/2 (1+eps), several distinct values.
	for _, cfg := range []NoiseConfig{base, anti} {
		var sum float64
		n := 0
		distinct := map[float64]bool{}
		for range 2000 {
			for _, tt := range SampleTimes(rng, B, cfg) {
				if tt < eps || tt > 1 {
					t.Fatalf("time %g outside [eps, 1]", tt)
				}
				sum += tt
				n++
				distinct[tt] = true
			}
		}
		mean := sum / float64(n)
		// sd of U[0,1] is 0.289; 32000 draws give SE 0.0016 (antithetic: smaller).
		if math.Abs(mean-(1+eps)/2) > 0.005 || len(distinct) < n/2 {
			t.Fatalf("antithetic=%v: mean time %g, want %g; %d distinct of %d", cfg.Antithetic, mean, (1+eps)/2, len(distinct), n)
		}
	}
}

func TestCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const B, L, mask = 4, 2000, int32(99)
	x0 := make([]int32, B*L)
	for i := range x0 {
		x0[i] = int32(rng.IntN(99))
	}
	xt := make([]int32, B*L)
	times := []float64{0.001, 0.25, 0.6, 1}
	masked := Corrupt(rng, x0, B, L, times, Cosine{}, mask, xt)
	for b := range B {
		n := 0
		for i := b * L; i < (b+1)*L; i++ {
			switch {
			case masked[i] && xt[i] != mask, !masked[i] && xt[i] != x0[i]:
				t.Fatalf("position %d: masked=%v xt=%d x0=%d", i, masked[i], xt[i], x0[i])
			case masked[i]:
				n++
			}
		}
		p := 1 - Cosine{}.Alpha(times[b])
		sd := math.Sqrt(float64(L) * p * (1 - p))
		if math.Abs(float64(n)-p*L) > 4*sd+1e-9 {
			t.Errorf("sequence %d at t=%g: %d masked of %d, want about %.1f", b, times[b], n, L, p*L)
		}
	}
}

// TestExactCount: SampleCounts gives levels l/L with l uniform on {1..L}, one per stratum of
// the batch under Antithetic; CorruptCount masks exactly l positions, each position equally
// often.
func TestExactCount(t *testing.T) {
	const B, L, rounds = 8, 16, 4000
	cfg := NoiseConfig{Schedule: Linear{}, Antithetic: true, ExactCount: true}
	rng := rand.New(rand.NewPCG(5, 6))
	levels := make([]int, L+1)
	perPos := make([]int, L)
	x0 := make([]int32, B*L)
	xt := make([]int32, B*L)
	const mask = 99
	for r := 0; r < rounds; r++ {
		times := SampleCounts(rng, B, L, cfg)
		seen := map[int]bool{}
		for _, tt := range times {
			l := int(math.Round(tt * L))
			if l < 1 || l > L || math.Abs(tt*L-float64(l)) > 1e-9 {
				t.Fatalf("level %v is not l/L with l in 1..%d", tt, L)
			}
			levels[l]++
			seen[(l-1)*B/L] = true // the stratum of u = (l-1)/L
		}
		if len(seen) != B {
			t.Fatalf("antithetic counts %v do not cover the %d strata", times, B)
		}
		m := CorruptCount(rng, x0, B, L, times, mask, xt)
		for b := 0; b < B; b++ {
			want := int(math.Round(times[b] * L))
			got := 0
			for i := b * L; i < (b+1)*L; i++ {
				if m[i] != (xt[i] == mask) {
					t.Fatal("masked flags disagree with xt")
				}
				if m[i] {
					got++
					perPos[i-b*L]++
				}
			}
			if got != want {
				t.Fatalf("sequence %d: %d masked, want exactly %d", b, got, want)
			}
		}
	}
	// Each level: expected rounds*B/L draws; each position: expected rounds*B*(L+1)/2/L masks.
	for l := 1; l <= L; l++ {
		exp := float64(rounds*B) / L
		if math.Abs(float64(levels[l])-exp) > 5*math.Sqrt(exp) {
			t.Errorf("level %d drawn %d times, expected %.0f", l, levels[l], exp)
		}
	}
	for p, n := range perPos {
		exp := float64(rounds*B) * float64(L+1) / 2 / L
		if math.Abs(float64(n)-exp) > 5*math.Sqrt(exp) {
			t.Errorf("position %d masked %d times, expected %.0f", p, n, exp)
		}
	}
}
