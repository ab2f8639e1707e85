package continuous

import (
	"math"
	"math/rand/v2"
	"testing"
)

// schedules are every schedule with the ends it documents: a(0) and a(1).
var schedules = []struct {
	s        Schedule
	at0, at1 float64
}{
	{TanD{D: 9}, 1, 0},
	{TanD{D: 3}, 1, 0},
	{TanD{D: 1}, 1, 0},
	{Cosine{S: 0.008}, 1, 0},
	{Sqrt{S: 1e-4}, 0.99, 0},
}

func TestScheduleEnds(t *testing.T) {
	for _, c := range schedules {
		if a := c.s.Alpha(0); math.Abs(a-c.at0) > 1e-12 {
			t.Errorf("%s: a(0) = %g, want %g", c.s.Name(), a, c.at0)
		}
		if a := c.s.Alpha(1); math.Abs(a-c.at1) > 1e-12 {
			t.Errorf("%s: a(1) = %g, want %g", c.s.Name(), a, c.at1)
		}
	}
}

func TestScheduleMonotone(t *testing.T) {
	for _, c := range schedules {
		prev := c.s.Alpha(0)
		for i := 1; i <= 1000; i++ {
			a := c.s.Alpha(float64(i) / 1000)
			if a > prev || a < 0 || a > 1 {
				t.Fatalf("%s: a(%g) = %g after %g: not decreasing in [0,1]", c.s.Name(), float64(i)/1000, a, prev)
			}
			prev = a
		}
	}
}

// TestScheduleDerivative checks DAlpha against central differences of Alpha, relative to
// the derivative's scale (tan-9 falls by 1/81 per unit near t=0.5 but steeply near 0).
func TestScheduleDerivative(t *testing.T) {
	const h = 1e-6
	for _, c := range schedules {
		for i := 1; i < 100; i++ {
			tt := float64(i) / 100
			fd := (c.s.Alpha(tt+h) - c.s.Alpha(tt-h)) / (2 * h)
			if d := c.s.DAlpha(tt); math.Abs(d-fd) > 1e-6*(1+math.Abs(fd)) {
				t.Errorf("%s: a'(%g) = %g, finite difference %g", c.s.Name(), tt, d, fd)
			}
		}
	}
}

func TestTanDClosedForm(t *testing.T) {
	s := TanD{D: 9}
	for _, tt := range []float64{0.1, 0.5, 0.9} {
		tan := math.Tan(math.Pi / 2 * tt)
		if want := 1 / (1 + 81*tan*tan); math.Abs(s.Alpha(tt)-want) > 1e-14 {
			t.Errorf("a(%g) = %g, want %g", tt, s.Alpha(tt), want)
		}
		// log-SNR of tan-d is -2 log(d tan(pi t/2)).
		if want := -2 * math.Log(9*tan); math.Abs(LogSNR(s, tt)-want) > 1e-9 {
			t.Errorf("logSNR(%g) = %g, want %g", tt, LogSNR(s, tt), want)
		}
	}
	// beta = -a'/a = -d/dt log a.
	const h = 1e-6
	fd := -(math.Log(s.Alpha(0.3+h)) - math.Log(s.Alpha(0.3-h))) / (2 * h)
	if b := Beta(s, 0.3); math.Abs(b-fd) > 1e-6*fd {
		t.Errorf("beta(0.3) = %g, finite difference %g", b, fd)
	}
}

func TestScheduleByName(t *testing.T) {
	for _, n := range []string{"tan-d", "cosine", "sqrt"} {
		if _, err := ScheduleByName(n, 9); err != nil {
			t.Error(err)
		}
	}
	if s, _ := ScheduleByName("tan-d", 5); s.Name() != "tan-5" {
		t.Errorf("tan-d with d=5 is named %q", s.Name())
	}
	for _, bad := range []struct {
		n string
		d float64
	}{{"linear", 9}, {"tan-d", 0}, {"tan-d", math.NaN()}} {
		if _, err := ScheduleByName(bad.n, bad.d); err == nil {
			t.Errorf("ScheduleByName(%q, %g) accepted", bad.n, bad.d)
		}
	}
}

// TestNoiseMoments draws z_t many times from fixed z0 and checks each position's mean
// sqrt(a) z0 and variance 1-a within a few standard errors, per sequence (own t each).
func TestNoiseMoments(t *testing.T) {
	const B, L, D, draws = 3, 2, 4, 20000
	rng := rand.New(rand.NewPCG(1, 2))
	z0 := make([]float32, B*L*D)
	for i := range z0 {
		z0[i] = float32(rng.NormFloat64() * 2)
	}
	ts := []float64{0.05, 0.5, 0.9}
	s := TanD{D: 3}
	sum, sq := make([]float64, len(z0)), make([]float64, len(z0))
	zt, eps := make([]float32, len(z0)), make([]float32, len(z0))
	for range draws {
		Noise(zt, eps, z0, ts, D, s, rng)
		for i, v := range zt {
			sum[i] += float64(v)
			sq[i] += float64(v) * float64(v)
			a := s.Alpha(ts[i/(L*D)])
			if want := math.Sqrt(a)*float64(z0[i]) + math.Sqrt(1-a)*float64(eps[i]); math.Abs(float64(v)-want) > 1e-5 {
				t.Fatalf("z_t[%d] = %g, want sqrt(a) z0 + sqrt(1-a) eps = %g", i, v, want)
			}
		}
	}
	for i := range z0 {
		a := s.Alpha(ts[i/(L*D)])
		mean, v := sum[i]/draws, sq[i]/draws-sum[i]*sum[i]/draws/draws
		wantM, wantV := math.Sqrt(a)*float64(z0[i]), 1-a
		if se := math.Sqrt(wantV / draws); math.Abs(mean-wantM) > 4*se {
			t.Errorf("pos %d: mean %g, want %g +- %g", i, mean, wantM, se)
		}
		if se := wantV * math.Sqrt(2.0/draws); math.Abs(v-wantV) > 4*se {
			t.Errorf("pos %d: variance %g, want %g +- %g", i, v, wantV, se)
		}
	}
	// In place: zt aliasing z0 gives the same draw as a separate buffer.
	r1, r2 := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
	Noise(zt, nil, z0, ts, D, s, r1)
	Noise(z0, nil, z0, ts, D, s, r2)
	for i := range z0 {
		if z0[i] != zt[i] {
			t.Fatalf("in-place noising differs at %d: %g vs %g", i, z0[i], zt[i])
		}
	}
}

func TestUniformTimes(t *testing.T) {
	ts := make([]float64, 1000)
	UniformTimes(ts, 0, 0.15, rand.New(rand.NewPCG(3, 4)))
	var s float64
	for _, v := range ts {
		if v < 0 || v >= 0.15 {
			t.Fatalf("draw %g outside [0, 0.15)", v)
		}
		s += v
	}
	if m := s / 1000; math.Abs(m-0.075) > 4*0.15/math.Sqrt(12*1000) {
		t.Errorf("mean %g, want 0.075", m)
	}
}
