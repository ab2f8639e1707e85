package continuous

import (
	"math"
	"math/rand/v2"
)

// UniformTimes fills t with draws from U[lo, hi): one diffusion time per sequence
// (lo=0, hi=1 for the denoiser; hi=0.15 for the decoder's slightly corrupted latents).
func UniformTimes(t []float64, lo, hi float64, rng *rand.Rand) {
	for i := range t {
		t[i] = lo + (hi-lo)*rng.Float64()
	}
}

// Noise writes z_t = sqrt(a(t_b)) z0 + sqrt(1-a(t_b)) eps into zt, eps ~ N(0, I) from rng,
// for the B = len(t) sequences of z0 (B*L, D): row r belongs to sequence r/L. zt may be z0
// itself (noising in place). If eps is not nil it receives the noise drawn, (B*L, D).
func Noise(zt, eps, z0 []float32, t []float64, D int, s Schedule, rng *rand.Rand) {
	B := len(t)
	if B == 0 || D <= 0 || len(z0)%(B*D) != 0 || len(zt) != len(z0) || (eps != nil && len(eps) != len(z0)) {
		panic("continuous: Noise shapes disagree")
	}
	n := len(z0) / B // L*D values per sequence
	for b := range B {
		a := s.Alpha(t[b])
		sa, sn := float32(math.Sqrt(a)), float32(math.Sqrt(1-a))
		for i := b * n; i < (b+1)*n; i++ {
			e := float32(rng.NormFloat64())
			if eps != nil {
				eps[i] = e
			}
			zt[i] = sa*z0[i] + sn*e
		}
	}
}
