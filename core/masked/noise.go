package masked

import (
	"math"
	"math/rand/v2"
)

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
	// ExactCount replaces the Bernoulli masking by LLaDA's exact-count masking: sequence b
	// gets exactly l_b positions masked, chosen uniformly, with l_b uniform on {1..L}
	// (spread over the batch like the times when Antithetic), and each masked token's
	// cross-entropy is weighted by L/l_b. This is the same bound as the continuous-time
	// objective (the any-order autoregressive identity, see ELBO) with far less variance:
	// under Bernoulli masking a sequence drawn at a small t can carry one or two masked
	// tokens with weight 1/t of hundreds, and those few tokens then dominate the batch's
	// gradient. The schedule is not used (the bound does not depend on it).
	ExactCount bool
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

// Draw corrupts x0 (B, L) into xt as cfg says (Bernoulli masking at times from SampleTimes,
// or exact counts from SampleCounts) and returns the times to pass to Loss.
func Draw(rng *rand.Rand, x0 []int32, B, L int, cfg NoiseConfig, maskID int32, xt []int32) (times []float64) {
	if cfg.ExactCount {
		times = SampleCounts(rng, B, L, cfg)
		CorruptCount(rng, x0, B, L, times, maskID, xt)
		return times
	}
	times = SampleTimes(rng, B, cfg)
	Corrupt(rng, x0, B, L, times, cfg.Schedule, maskID, xt)
	return times
}

// SampleCounts draws B masking levels t_b = l_b/L with l_b uniform on {1..L}: l = floor(u L)+1
// for u ~ U[0,1), with u spread over the batch as in SampleTimes (Antithetic or
// SingleRatioPerSequence). Eps is not used: t_b >= 1/L.
func SampleCounts(rng *rand.Rand, B, L int, cfg NoiseConfig) []float64 {
	if L <= 0 {
		panic("masked: SampleCounts: non-positive length")
	}
	unclipped := cfg
	unclipped.Eps = 0
	ts := SampleTimes(rng, B, unclipped)
	for i, u := range ts {
		l := min(int(u*float64(L))+1, L)
		ts[i] = float64(l) / float64(L)
	}
	return ts
}

// CorruptCount writes xt from x0, masking exactly round(times[b]*L) positions of sequence b,
// chosen uniformly at random, and returns which positions it masked. Shapes as in Corrupt.
func CorruptCount(rng *rand.Rand, x0 []int32, B, L int, times []float64, maskID int32, xt []int32) (masked []bool) {
	if len(x0) != B*L || len(xt) != B*L || len(times) != B {
		panic("masked: CorruptCount: shape mismatch")
	}
	copy(xt, x0)
	masked = make([]bool, B*L)
	perm := make([]int, L)
	for b := 0; b < B; b++ {
		l := int(math.Round(times[b] * float64(L)))
		if l < 0 || l > L {
			panic("masked: CorruptCount: time outside [0,1]")
		}
		for i := range perm {
			perm[i] = i
		}
		// Partial Fisher-Yates: perm[:l] is a uniform random l-subset.
		for i := 0; i < l; i++ {
			s := i + rng.IntN(L-i)
			perm[i], perm[s] = perm[s], perm[i]
			xt[b*L+perm[i]] = maskID
			masked[b*L+perm[i]] = true
		}
	}
	return masked
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
