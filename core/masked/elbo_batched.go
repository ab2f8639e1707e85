package masked

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// BatchLogitsFn returns the (B*L, V) logits of B corrupted sequences xt (B, L).
type BatchLogitsFn func(xt []int32, B int) ([]float32, error)

// ELBOBatched is ELBO (same draws, same estimator, same bound; ELBO is this with batch 1)
// with the draws of one sequence sent to the network `batch` at a time, so that a CPU
// model runs large matrix products instead of one sequence per call.
func ELBOBatched(logitsFn BatchLogitsFn, batch int, x0 []int32, V int, maskID int32, draws int,
	rng *rand.Rand) (nllPerToken, stderr float64, err error) {
	L := len(x0)
	switch {
	case L == 0:
		return 0, 0, errors.New("masked: ELBO: empty sequence")
	case draws < 2:
		return 0, 0, fmt.Errorf("masked: ELBO: draws = %d, need at least 2 for a standard error", draws)
	case maskID < 0 || int(maskID) >= V:
		return 0, 0, fmt.Errorf("masked: ELBO: maskID %d outside vocabulary of %d", maskID, V)
	case batch < 1:
		return 0, 0, fmt.Errorf("masked: ELBO: batch %d < 1", batch)
	}
	for i, tok := range x0 {
		if tok < 0 || int(tok) >= V || tok == maskID {
			return 0, 0, fmt.Errorf("masked: ELBO: token %d at position %d is not a real token of a %d vocabulary with MASK %d", tok, i, V, maskID)
		}
	}
	// Draw j masks l_j = ((round(k + j*L/draws) - 1) mod L) + 1 uniformly chosen positions.
	k := 1 + rng.IntN(L)
	perm := make([]int, L)
	for i := range perm {
		perm[i] = i
	}
	masks := make([][]int, draws)
	for j := range masks {
		r := int(math.Round(float64(k) + float64(j)*float64(L)/float64(draws)))
		l := (r-1)%L + 1
		// Partial Fisher-Yates: perm[:l] becomes a uniform random l-subset.
		for i := 0; i < l; i++ {
			s := i + rng.IntN(L-i)
			perm[i], perm[s] = perm[s], perm[i]
		}
		masks[j] = append([]int(nil), perm[:l]...)
	}
	est := make([]float64, draws)
	buf := make([]int32, batch*L)
	for lo := 0; lo < draws; lo += batch {
		hi := min(lo+batch, draws)
		xt := buf[:(hi-lo)*L]
		for j := lo; j < hi; j++ {
			row := xt[(j-lo)*L : (j-lo+1)*L]
			copy(row, x0)
			for _, p := range masks[j] {
				row[p] = maskID
			}
		}
		logits, err := logitsFn(xt, hi-lo)
		if err != nil {
			return 0, 0, fmt.Errorf("masked: ELBO: draws %d..%d: %w", lo, hi-1, err)
		}
		if len(logits) != (hi-lo)*L*V {
			return 0, 0, fmt.Errorf("masked: ELBO: draws %d..%d: logits function returned %d values, want %d", lo, hi-1, len(logits), (hi-lo)*L*V)
		}
		for j := lo; j < hi; j++ {
			lg := logits[(j-lo)*L*V:]
			var sum float64
			for _, p := range masks[j] {
				sum += rowCE(lg[p*V:(p+1)*V], int(x0[p]), int(maskID), nil, 0)
			}
			est[j] = sum / float64(len(masks[j]))
		}
	}
	var mean float64
	for _, e := range est {
		mean += e
	}
	mean /= float64(draws)
	var ss float64
	for _, e := range est {
		ss += (e - mean) * (e - mean)
	}
	return mean, math.Sqrt(ss/float64(draws-1)) / math.Sqrt(float64(draws)), nil
}
