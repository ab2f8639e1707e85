package optim

import (
	"math"
	"testing"
)

func TestAdamWMinimisesQuadratic(t *testing.T) {
	// f(p) = sum (p - 3)^2 on the first range; the second range decays towards 0 with a
	// zero gradient, which only weight decay can do.
	p := []float32{0, 10, -4, 5}
	o := NewAdamW(4, []Range{{0, 2, false}, {2, 4, true}}, 0.5)
	g := make([]float32, 4)
	for i := 0; i < 2000; i++ {
		g[0], g[1] = 2*(p[0]-3), 2*(p[1]-3)
		g[2], g[3] = 0, 0
		o.Update(p, g, 0.05)
	}
	if math.Abs(float64(p[0]-3)) > 1e-2 || math.Abs(float64(p[1]-3)) > 1e-2 {
		t.Fatalf("not minimised: %v", p[:2])
	}
	if math.Abs(float64(p[2])) > 0.1 || math.Abs(float64(p[3])) > 0.1 {
		t.Fatalf("weight decay inactive: %v", p[2:])
	}
}

func TestClipGradNorm(t *testing.T) {
	g := []float32{3, 4}
	if n := ClipGradNorm(g, 1); n != 5 || math.Abs(float64(g[0])-0.6) > 1e-5 || math.Abs(float64(g[1])-0.8) > 1e-5 {
		t.Fatalf("clip: norm %v grads %v", n, g)
	}
}

func TestSchedule(t *testing.T) {
	s := Schedule{Max: 1, Min: 0.1, Warmup: 10, Total: 110}
	if s.At(0) != 0.1 || s.At(9) != 1 {
		t.Fatalf("warm-up: %v %v", s.At(0), s.At(9))
	}
	if math.Abs(s.At(60)-0.55) > 1e-9 || s.At(110) != 0.1 || s.At(1000) != 0.1 {
		t.Fatalf("cosine: %v %v", s.At(60), s.At(110))
	}
}
