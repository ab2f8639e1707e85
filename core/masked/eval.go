package masked

import (
	"math/rand/v2"
)

// CrossEntropy is the summed next-token negative log-likelihood sum_i -log softmax(logits_i)[targets_i]
// over the full V columns (the autoregressive baseline's exact NLL); targets below zero are
// skipped. logits is (len(targets), V).
func CrossEntropy(logits []float32, targets []int32, V int) (sum float64) {
	if len(logits) != len(targets)*V {
		panic("masked: CrossEntropy: shape mismatch")
	}
	for i, tg := range targets {
		if tg < 0 {
			continue
		}
		sum += rowCE(logits[i*V:(i+1)*V], int(tg), -1, nil, 0)
	}
	return sum
}

// ELBO estimates the masked-diffusion negative ELBO per token of one sequence x0 (length L)
// with LLaDA's stratified Monte-Carlo scheme, and its standard error.
//
// logitsFn returns the (L, V) logits of the denoiser for a corrupted sequence; the softmax is
// taken over every column except maskID (SUBS). A k is drawn uniformly from {1..L}; draw j in
// 0..draws-1 masks l_j = ((round(k + j*L/draws) - 1) mod L) + 1 positions chosen uniformly at
// random and scores
//
//	e_j = (L/l_j) * sum_{masked n} -log p(x0_n | xt) / L  =  sum_{masked n} -log p(x0_n | xt) / l_j
//
// (round is half away from zero, under which each l_j on its own is uniform on {1..L}).
// Each e_j is an unbiased estimate of the continuous-time NELBO per token,
//
//	N(x0) = (1/L) sum_{l=1..L} (1/l) E_{|M|=l} sum_{n in M} -log p(x0_n | x0 outside M),
//
// and N(x0) >= -log p_theta(x0)/L, where p_theta is the distribution that the denoiser's
// reverse process generates, for any denoiser. With the data distribution's exact conditional
// of each masked position given the visible tokens (marginal over the other masked ones) the
// bound is tight: N(x0) = -log p(x0)/L exactly (the any-order autoregressive identity: the
// l-th term averages the chain-rule factors over orders). So the returned value is, in
// expectation, an UPPER BOUND on the NLL per token (exp of it bounds the perplexity), not the
// NLL itself; a single estimate can fall below the NLL by Monte-Carlo error.
// It needs no schedule: N(x0) is the continuous-time NELBO of every schedule with alpha(0)=1,
// alpha(1)=0 (Loss with times drawn by SampleTimes estimates the same quantity).
// stderr is std(e_j)/sqrt(draws) with the sample standard deviation; the stratified draws are
// not independent, and stratification usually lowers the true error below this figure.
// draws must be at least 2.
func ELBO(logitsFn func(xt []int32) ([]float32, error), x0 []int32, V int, maskID int32, draws int,
	rng *rand.Rand) (nllPerToken, stderr float64, err error) {
	one := func(xt []int32, B int) ([]float32, error) { return logitsFn(xt) }
	return ELBOBatched(one, 1, x0, V, maskID, draws, rng)
}
