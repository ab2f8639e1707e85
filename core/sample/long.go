package sample

import (
	"fmt"
	"slices"
)

// Long generates opt.GenLength tokens after prompt, also past the model's window of
// window tokens. When prompt and answer fit the window it is Sample, with the same result
// for the same options. Otherwise the answer is written in chunks of at most chunk tokens
// (0: half the window), left to right. Each chunk is one Sample call whose input is the
// last window-chunk tokens of the text so far (the prompt and the chunks already written,
// which are given tokens and never remasked) followed by the chunk's MASKs, so a chunk sees
// as much of the text before it as fits beside it, and nothing after it.
//
// Cost: one reverse process per chunk, so network calls grow linearly with length. The
// steps are shared out so that steps per token stay as for one window: a chunk of n
// tokens gets round(opt.Steps * n / GenLength) steps, at least one (opt.Steps 0: one per
// token, as in Sample). Chunk j (from 0) samples with seed opt.Seed + j. With
// opt.StopAtEOT, generation ends at the first generated EOT. opt.OnStep sees the whole text
// so far: the given prefix, then the chunk being written, with the committed positions
// counted in that text; its step count runs on across chunks.
func Long(d Denoiser, window, chunk int, prompt []int32, opt Options) (Result, error) {
	n := opt.GenLength
	switch {
	case n <= 0:
		return Result{}, fmt.Errorf("sample: GenLength %d, want > 0", n)
	case window < 2:
		return Result{}, fmt.Errorf("sample: window of %d tokens, need at least 2", window)
	case chunk < 0 || chunk >= window:
		return Result{}, fmt.Errorf("sample: chunk of %d tokens, want 0 (half the window) or 1..%d", chunk, window-1)
	}
	if len(prompt)+n <= window {
		return Sample(d, prompt, opt)
	}
	if chunk == 0 {
		chunk = window / 2
	}
	text := slices.Clone(prompt)
	var res Result
	onStep, steps := opt.OnStep, opt.Steps
	var view []int32 // the whole text for OnStep
	for j, done := 0, 0; done < n; j++ {
		k := min(chunk, n-done)
		ctx := text[max(0, len(text)-(window-k)):]
		off := len(text) - len(ctx) // position of ctx[0] in text
		o := opt
		o.GenLength, o.Seed = k, opt.Seed+uint64(j)
		if steps > 0 {
			o.Steps = max(1, (steps*k+n/2)/n)
		}
		if onStep != nil {
			base := res.Steps
			o.OnStep = func(step int, ids []int32, committed []int) {
				view = append(append(view[:0], text[:off]...), ids...)
				moved := make([]int, len(committed))
				for i, p := range committed {
					moved[i] = p + off
				}
				onStep(base+step, view, moved)
			}
		}
		r, err := Sample(d, ctx, o)
		if err != nil {
			return Result{}, fmt.Errorf("sample: chunk %d (tokens %d..%d of %d): %w", j+1, done+1, done+k, n, err)
		}
		res.NFE += r.NFE
		res.Steps += r.Steps
		text = append(text, r.Generated...)
		done += k
		if opt.StopAtEOT && len(r.Generated) < k {
			break // Sample cut this chunk at its first EOT
		}
	}
	res.IDs = text
	res.Generated = text[len(prompt):]
	return res, nil
}
