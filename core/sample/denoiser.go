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

// RowDenoiser is a Denoiser that also computes the logits of some positions only. The
// network still reads every position (attention is bidirectional), but the head, a (V, D)
// product per position and a sixth of the released model's forward pass, and the copy of
// its output run on those alone. A step reads the logits of the positions it may commit
// only (the masked ones of a semi-autoregressive block), so the samplers ask for those.
type RowDenoiser interface {
	Denoiser
	// RowLogits returns the (len(rows), Vocab()) logits of the positions rows (increasing,
	// each in [0, len(ids))) of the sequence ids, row-major. The result may be the
	// implementation's buffer, valid until its next call.
	RowLogits(ids []int32, rows []int32) ([]float32, error)
}

// evaluator wraps one Denoiser: it counts the calls that reach it (the NFE) and reuses the
// output for an input it saw in one of its last two calls (MDLM's cache), so a repeated
// input costs no call. Two entries because guidance alternates a conditional and an
// unconditional input; a speculative sampler holds one evaluator per model and reads each
// one's calls apart.
type evaluator struct {
	d      Denoiser
	v      int
	calls  int // sequential calls (a batched call counts once)
	rows   int // sequences evaluated (a batched call counts B)
	buf    []float32
	rows32 []int32       // scratch: the positions asked of a RowDenoiser
	ent    [2]cacheEntry // ent[0] is the most recent
}

type cacheEntry struct {
	ids  []int32
	out  []float32 // (len(ids), v): the rows of have, or every row when have is nil
	have []bool    // (len(ids)) the rows out holds; nil: all of them
	ok   bool
}

// holds reports whether the entry has the logits of every position in rows (nil: all).
func (c *cacheEntry) holds(rows []int) bool {
	if c.have == nil {
		return true
	}
	if rows == nil {
		return false
	}
	for _, r := range rows {
		if !c.have[r] {
			return false
		}
	}
	return true
}

func newEvaluator(d Denoiser) *evaluator { return &evaluator{d: d, v: d.Vocab()} }

// logits returns the (len(ids), v) logits for ids, of which the caller reads the rows of
// the positions rows (increasing; nil: every position) only: a RowDenoiser computes those
// alone and the other rows hold stale values. The result is owned by the evaluator and
// stays valid until the second next call.
func (e *evaluator) logits(ids []int32, rows []int) ([]float32, error) {
	for i := range e.ent {
		if e.ent[i].ok && slices.Equal(e.ent[i].ids, ids) && e.ent[i].holds(rows) {
			if i == 1 {
				e.ent[0], e.ent[1] = e.ent[1], e.ent[0]
			}
			return e.ent[0].out, nil
		}
	}
	rd, partial := e.d.(RowDenoiser)
	partial = partial && rows != nil && len(rows) < len(ids)
	want := len(ids)
	var out []float32
	var err error
	if partial {
		e.rows32 = e.rows32[:0]
		for _, r := range rows {
			e.rows32 = append(e.rows32, int32(r))
		}
		want = len(rows)
		out, err = rd.RowLogits(ids, e.rows32)
	} else {
		out, err = e.d.Logits(ids)
	}
	e.calls++
	e.rows++
	if err != nil {
		return nil, fmt.Errorf("sample: denoiser call %d: %w", e.calls, err)
	}
	if len(out) != want*e.v {
		return nil, fmt.Errorf("sample: denoiser call %d returned %d logits, want %d rows of %d", e.calls, len(out), want, e.v)
	}
	// Recycle the older entry's buffers for the new one.
	old := e.ent[1]
	e.ent[1] = e.ent[0]
	ent := cacheEntry{ids: append(old.ids[:0], ids...), ok: true}
	if partial {
		ent.out = slices.Grow(old.out[:0], len(ids)*e.v)[:len(ids)*e.v]
		ent.have = append(old.have[:0], make([]bool, len(ids))...)
		for j, r := range rows {
			copy(ent.out[r*e.v:(r+1)*e.v], out[j*e.v:(j+1)*e.v])
			ent.have[r] = true
		}
	} else {
		ent.out = append(old.out[:0], out...)
	}
	e.ent[0] = ent
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
