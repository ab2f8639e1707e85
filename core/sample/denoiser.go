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

// BatchDenoiser is a Denoiser that also runs several sequences in one call: one set of
// matrix products over B x L rows on the CPU (core/model.Model), one dispatch on a GPU. The
// speculative sampler verifies a chain of drafted steps with one such call; a Denoiser
// without it is called once per sequence instead (same result, B calls).
type BatchDenoiser interface {
	Denoiser
	// BatchLogits returns the (B*L, Vocab()) logits of the B sequences of ids (B, L),
	// row-major. The result may be the implementation's buffer, valid until its next call.
	BatchLogits(ids []int32, B int) ([]float32, error)
}

// evaluator wraps one Denoiser: it counts the calls that reach it (the NFE) and reuses the
// output for an input it saw in one of its last two calls (MDLM's cache), so a repeated
// input costs no call. Two entries because guidance alternates a conditional and an
// unconditional input; a speculative sampler holds one evaluator per model and reads each
// one's calls apart.
type evaluator struct {
	d     Denoiser
	v     int
	calls int // sequential calls (a batched call counts once)
	rows  int // sequences evaluated (a batched call counts B)
	buf   []float32
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
	e.rows++
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

// batch returns the (B*L, v) logits of the B sequences of ids (B, L), in one call when the
// Denoiser is a BatchDenoiser. Nothing is cached; the result stays valid until the next
// call of any method.
func (e *evaluator) batch(ids []int32, B int) ([]float32, error) {
	L := len(ids) / B
	if bd, ok := e.d.(BatchDenoiser); ok {
		out, err := bd.BatchLogits(ids, B)
		e.calls++
		e.rows += B
		if err != nil {
			return nil, fmt.Errorf("sample: denoiser call %d (batch of %d): %w", e.calls, B, err)
		}
		if len(out) != len(ids)*e.v {
			return nil, fmt.Errorf("sample: denoiser call %d returned %d logits for a batch of %d x %d, want %d",
				e.calls, len(out), B, L, len(ids)*e.v)
		}
		return out, nil
	}
	e.buf = e.buf[:0]
	for b := range B {
		out, err := e.d.Logits(ids[b*L : (b+1)*L])
		e.calls++
		e.rows++
		if err != nil {
			return nil, fmt.Errorf("sample: denoiser call %d: %w", e.calls, err)
		}
		if len(out) != L*e.v {
			return nil, fmt.Errorf("sample: denoiser call %d returned %d logits, want %d*%d", e.calls, len(out), L, e.v)
		}
		e.buf = append(e.buf, out...)
	}
	return e.buf, nil
}
