package train

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/austen-diffusion/textdiffusion/core/dist"
)

// Data-parallel training. Rank r of N trains on sequences [r*B/N, (r+1)*B/N) of every
// global batch of B; its masks and times are those the sequence gets in a one-process run
// (see mdmLoss), and its loss is normalised over its own B/N*L tokens. The gradient arena
// is summed over the ranks in one all-reduce and divided by N: the global mean, the one
// a one-process run of batch B computes, up to the order of float32 additions (the
// weight gradients' sums over the batch rows are split into N partial products and one
// sum). For N a power of two the 1/N scalings are exact. Clipping then sees the global
// norm, and every rank applies the same AdamW step to the same weights.

// SetComm makes t one rank of c's job. The global batch must split evenly, and the
// DivideByMasked ablation (normalised by the batch's masked count) is refused: its
// normaliser is not a fixed share of the global one.
func (t *Trainer) SetComm(c dist.Comm) error {
	n := c.Size()
	if t.Cfg.Batch%n != 0 {
		return fmt.Errorf("batch %d does not split over %d ranks: pass a multiple of %d", t.Cfg.Batch, n, n)
	}
	if n > 1 && t.Cfg.DivideByMasked {
		return errors.New("the -divide-by-masked ablation runs in one process only")
	}
	t.Comm = c
	L, V := t.Cfg.Model.SeqLen, t.Cfg.Model.Vocab
	t.dlogits = make([]float32, t.Cfg.Batch/n*L*V)
	return nil
}

// Lead reports whether this process writes the run's files (rank 0, or the only one).
func (t *Trainer) Lead() bool { return t.Comm == nil || t.Comm.Rank() == 0 }

// share returns this rank's sequences [lo, hi) of the global batch.
func (t *Trainer) share() (lo, hi int) {
	if t.Comm == nil {
		return 0, t.Cfg.Batch
	}
	n := t.Cfg.Batch / t.Comm.Size()
	return t.Comm.Rank() * n, (t.Comm.Rank() + 1) * n
}

// reduce turns this rank's gradient and loss (means over its share) into the global
// means on every rank.
func (t *Trainer) reduce(loss float64) float64 {
	if t.Comm == nil || t.Comm.Size() == 1 {
		return loss
	}
	n := t.Comm.Size()
	g := t.Model.Grads
	t.Comm.AllReduceSum(g)
	inv := 1 / float32(n)
	for i := range g {
		g[i] *= inv
	}
	l := []float64{loss}
	t.Comm.AllReduceSum64(l)
	return l[0] / float64(n)
}

// dropoutRng returns the generator of a step's dropout masks. Rank 0 (and a one-process
// run) uses stream 2 of the step; the other ranks mix their rank into the seed so no two
// ranks drop the same units. Dropout masks are drawn per rank over its own activations, so
// a run with dropout is not the same draw on different rank counts (only in distribution).
func (t *Trainer) dropoutRng(step int) *rand.Rand {
	if t.Comm == nil || t.Comm.Rank() == 0 {
		return t.rng(step, 2)
	}
	return rand.New(rand.NewPCG(t.Cfg.Seed^0x9e3779b97f4a7c15^uint64(t.Comm.Rank())*0xbf58476d1ce4e5b9, uint64(step)<<8|2))
}
