package masked

import "math/rand/v2"

// NoiseConfig chooses how training times are drawn and how the loss is normalised.
type NoiseConfig struct {
	Schedule
	// Eps clips times to t' = (1-Eps)t + Eps so the weight stays finite (LLaDA: 1e-3).
	Eps float64
	// Antithetic spreads one uniform draw over the batch, u_i = (u + i/B) mod 1 (MDLM):
	// each t is still U[0,1], the batch mean has lower variance.
	Antithetic bool
	// SingleRatioPerSequence false (default, the only sensible setting for training): one t
	// per sequence. True: one t shared by the whole batch, kept for the ablation.
	SingleRatioPerSequence bool
	// DivideByMasked normalises by the number of masked tokens instead of B*L. It is the
	// common WRONG formulation (it does not bound the likelihood); kept only for the ablation.
	DivideByMasked bool
}

// DefaultNoiseConfig is the training default: linear schedule, Eps 1e-3, antithetic times,
// one t per sequence, normalised by B*L.
func DefaultNoiseConfig() NoiseConfig {
	return NoiseConfig{Schedule: Linear{}, Eps: 1e-3, Antithetic: true}
}

// SampleTimes draws B clipped times t' = (1-Eps)u + Eps with u ~ U[0,1) (see NoiseConfig).
func SampleTimes(rng *rand.Rand, B int, cfg NoiseConfig) []float64 {
	if B < 0 {
		panic("masked: SampleTimes: negative batch size")
	}
	ts := make([]float64, B)
	u0 := rng.Float64()
	for i := range ts {
		var u float64
		switch {
		case cfg.SingleRatioPerSequence:
			u = u0
		case cfg.Antithetic:
			u = u0 + float64(i)/float64(B)
			if u >= 1 {
				u--
			}
		case i == 0:
			u = u0
		default:
			u = rng.Float64()
		}
		ts[i] = (1-cfg.Eps)*u + cfg.Eps
	}
	return ts
}

// Corrupt writes xt from x0, replacing each token of sequence b independently by maskID with
// probability 1 - sched.Alpha(times[b]), and returns which positions it masked.
// x0 and xt are (B, L); times is (B).
func Corrupt(rng *rand.Rand, x0 []int32, B, L int, times []float64, sched Schedule, maskID int32, xt []int32) (masked []bool) {
	if len(x0) != B*L || len(xt) != B*L || len(times) != B {
		panic("masked: Corrupt: shape mismatch")
	}
	masked = make([]bool, B*L)
	for b := 0; b < B; b++ {
		p := 1 - sched.Alpha(times[b])
		for i := b * L; i < (b+1)*L; i++ {
			if rng.Float64() < p {
				xt[i] = maskID
				masked[i] = true
			} else {
				xt[i] = x0[i]
			}
		}
	}
	return masked
}
