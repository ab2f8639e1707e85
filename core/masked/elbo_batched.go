package masked

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// BatchLogitsFn returns the (B*L, V) logits of B corrupted sequences xt (B, L).
type BatchLogitsFn func(xt []int32, B int) ([]float32, error)

// RowLogitsFn returns the logits of the listed rows of B corrupted sequences xt (B, L):
// (len(rows), V), row i for position rows[i] of the (B*L) batch (model.ForwardRows). The
// estimator needs only the masked rows', so a network that computes only those saves
// the rest of its output layer.
type RowLogitsFn func(xt []int32, B int, rows []int32) ([]float32, error)

// ELBOBatched is ELBO (same draws, same estimator, same bound; ELBO is this with batch 1)
// with the draws of one sequence sent to the network `batch` at a time, so that a CPU
// model runs large matrix products instead of one sequence per call.
func ELBOBatched(logitsFn BatchLogitsFn, batch int, x0 []int32, V int, maskID int32, draws int,
	rng *rand.Rand) (nllPerToken, stderr float64, err error) {
	_, est, err := ELBODraws(logitsFn, batch, x0, V, maskID, draws, rng)
	if err != nil {
		return 0, 0, err
	}
	nllPerToken, stderr = MeanSE(est)
	return nllPerToken, stderr, nil
}

// MeanSE is the mean of draws and its standard error std/sqrt(n) (sample std; n >= 2).
func MeanSE(draws []float64) (mean, se float64) {
	for _, e := range draws {
		mean += e
	}
	n := float64(len(draws))
	mean /= n
	var ss float64
	for _, e := range draws {
		ss += (e - mean) * (e - mean)
	}
	return mean, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}

// ELBODraws returns the draws behind ELBOBatched: draw j masked levels[j] positions and
// scored est[j], the mean cross-entropy over its masked positions. Grouping est by level
// shows where the bound is lost: at few masked tokens the model sees nearly all the
// context, at L masked tokens none of it.
func ELBODraws(logitsFn BatchLogitsFn, batch int, x0 []int32, V int, maskID int32, draws int,
	rng *rand.Rand) (levels []int, est []float64, err error) {
	rowsFn := func(xt []int32, B int, rows []int32) ([]float32, error) {
		all, err := logitsFn(xt, B)
		if err != nil {
			return nil, err
		}
		if len(all) != len(xt)*V {
			return nil, fmt.Errorf("logits function returned %d values, want %d", len(all), len(xt)*V)
		}
		out := make([]float32, 0, len(rows)*V)
		for _, r := range rows {
			out = append(out, all[int(r)*V:int(r+1)*V]...)
		}
		return out, nil
	}
	return ELBODrawsRows(rowsFn, batch, x0, V, maskID, draws, rng)
}

// ELBODrawsRows is ELBODraws with a network that returns the logits of the masked rows
// only; same draws, same estimates.
func ELBODrawsRows(logitsFn RowLogitsFn, batch int, x0 []int32, V int, maskID int32, draws int,
	rng *rand.Rand) (levels []int, est []float64, err error) {
	L := len(x0)
	switch {
	case L == 0:
		return nil, nil, errors.New("masked: ELBO: empty sequence")
	case draws < 2:
		return nil, nil, fmt.Errorf("masked: ELBO: draws = %d, need at least 2 for a standard error", draws)
	case maskID < 0 || int(maskID) >= V:
		return nil, nil, fmt.Errorf("masked: ELBO: maskID %d outside vocabulary of %d", maskID, V)
	case batch < 1:
		return nil, nil, fmt.Errorf("masked: ELBO: batch %d < 1", batch)
	}
	for i, tok := range x0 {
		if tok < 0 || int(tok) >= V || tok == maskID {
			return nil, nil, fmt.Errorf("masked: ELBO: token %d at position %d is not a real token of a %d vocabulary with MASK %d", tok, i, V, maskID)
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
	est = make([]float64, draws)
	levels = make([]int, draws)
	for j, m := range masks {
		levels[j] = len(m)
	}
	buf := make([]int32, batch*L)
	var rows []int32 // the masked rows of a batch, draw by draw in mask order
	for lo := 0; lo < draws; lo += batch {
		hi := min(lo+batch, draws)
		xt := buf[:(hi-lo)*L]
		rows = rows[:0]
		for j := lo; j < hi; j++ {
			row := xt[(j-lo)*L : (j-lo+1)*L]
			copy(row, x0)
			for _, p := range masks[j] {
				row[p] = maskID
				rows = append(rows, int32((j-lo)*L+p))
			}
		}
		logits, err := logitsFn(xt, hi-lo, rows)
		if err != nil {
			return nil, nil, fmt.Errorf("masked: ELBO: draws %d..%d: %w", lo, hi-1, err)
		}
		if len(logits) != len(rows)*V {
			return nil, nil, fmt.Errorf("masked: ELBO: draws %d..%d: logits function returned %d values, want %d", lo, hi-1, len(logits), len(rows)*V)
		}
		i := 0 // the next row of logits
		for j := lo; j < hi; j++ {
			var sum float64
			for _, p := range masks[j] {
				sum += rowCE(logits[i*V:(i+1)*V], int(x0[p]), int(maskID), nil, 0)
				i++
			}
			est[j] = sum / float64(len(masks[j]))
		}
	}
	return levels, est, nil
}
