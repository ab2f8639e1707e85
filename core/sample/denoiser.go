package sample

import (
	"fmt"
	"slices"
)

// Denoiser is the network seen by the samplers. The sampler copies what Logits returns, so an
// implementation may reuse its output buffer between calls.
type Denoiser interface {
	// Logits returns the (len(ids), Vocab()) logits, row-major, for one sequence.
	Logits(ids []int32) ([]float32, error)
	Vocab() int
}

// evaluator wraps one Denoiser: it counts the calls that reach it (the NFE) and reuses the
// output for an input it saw in one of its last two calls (MDLM's cache), so a repeated
// input costs no call. Two entries because guidance alternates a conditional and an
// unconditional input; a speculative sampler holds one evaluator per model and reads each
// one's calls apart.
type evaluator struct {
	d     Denoiser
	v     int
	calls int
	ent   [2]cacheEntry // ent[0] is the most recent
}

type cacheEntry struct {
	ids []int32
	out []float32 // (len(ids), v)
	ok  bool
}

func newEvaluator(d Denoiser) *evaluator { return &evaluator{d: d, v: d.Vocab()} }

// logits returns the (len(ids), v) logits for ids. The result is owned by the evaluator and
// stays valid until the second next call.
func (e *evaluator) logits(ids []int32) ([]float32, error) {
	for i := range e.ent {
		if e.ent[i].ok && slices.Equal(e.ent[i].ids, ids) {
			if i == 1 {
				e.ent[0], e.ent[1] = e.ent[1], e.ent[0]
			}
			return e.ent[0].out, nil
		}
	}
	out, err := e.d.Logits(ids)
	e.calls++
	if err != nil {
		return nil, fmt.Errorf("sample: denoiser call %d: %w", e.calls, err)
	}
	if len(out) != len(ids)*e.v {
		return nil, fmt.Errorf("sample: denoiser call %d returned %d logits, want len(ids)*vocab = %d*%d",
			e.calls, len(out), len(ids), e.v)
	}
	// Recycle the older entry's buffers for the new one.
	old := e.ent[1]
	e.ent[1] = e.ent[0]
	e.ent[0] = cacheEntry{
		ids: append(old.ids[:0], ids...),
		out: append(old.out[:0], out...),
		ok:  true,
	}
	return e.ent[0].out, nil
}
