package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Batcher draws training batches of random windows from a stream. Batch k depends only
// on (seed, k), so resuming at step k needs no saved data position.
type Batcher struct {
	tokens        []int32
	batch, seqLen int
	seed          uint64
}

// NewBatcher makes a Batcher of batch windows of seqLen tokens each. The stream must
// hold at least seqLen tokens. (An autoregressive model wanting inputs and shifted
// targets asks for seqLen+1.)
func NewBatcher(s *Stream, batch, seqLen int, seed uint64) (*Batcher, error) {
	if batch <= 0 || seqLen <= 0 {
		return nil, fmt.Errorf("data: batch %d and sequence length %d must be positive", batch, seqLen)
	}
	if len(s.Tokens) < seqLen {
		return nil, fmt.Errorf("data: stream has %d tokens, fewer than one window of %d", len(s.Tokens), seqLen)
	}
	return &Batcher{tokens: s.Tokens, batch: batch, seqLen: seqLen, seed: seed}, nil
}

// Shape returns (B, L).
func (b *Batcher) Shape() (int, int) { return b.batch, b.seqLen }

// Batch returns batch number step as a new (B, L) slice, row-major.
func (b *Batcher) Batch(step int) []int32 {
	dst := make([]int32, b.batch*b.seqLen)
	b.BatchInto(dst, step)
	return dst
}

// BatchInto writes batch number step into dst, which is (B, L) row-major.
// Row i is tokens[s_i : s_i+L], s_i uniform over the valid starts, drawn from a PCG
// generator seeded with (seed, step).
func (b *Batcher) BatchInto(dst []int32, step int) {
	if len(dst) != b.batch*b.seqLen {
		panic("data: BatchInto destination is not (B, L)")
	}
	r := rand.NewPCG(b.seed, uint64(step))
	starts := uint64(len(b.tokens) - b.seqLen + 1)
	for i := range b.batch {
		// Multiply-high maps a 64-bit draw to [0, starts) without depending on
		// math/rand's range functions, whose algorithm Go may change.
		s, _ := bits.Mul64(r.Uint64(), starts)
		copy(dst[i*b.seqLen:(i+1)*b.seqLen], b.tokens[s:s+uint64(b.seqLen)])
	}
}
