package sample

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Autoregressive samples n tokens after prompt from a causal Denoiser (the AR baseline),
// left to right, one network call per token: the candidate at each position is drawn from
// the last row of Logits(context) with the same temperature / top-k / top-p rules (and
// MASK excluded) as Sample. The context is the prompt and the tokens drawn so far; with an
// empty prompt it starts with EOT, the token that precedes every document in training.
// With window > 0 the network reads at most the last window tokens of that context (a
// sliding window, so n is not bounded by the model's positions); 0 reads all of it.
//
// Of opt it reads Temperature, TopK, TopP, Seed, StopAtEOT (which also stops the calls at
// the first EOT), MaskID, EOTID and OnStep (called once per token, with the sequence
// [prompt, drawn, MASK...] so a live view shows the same picture as Sample's); the grid,
// strategy, confidence, block and guidance fields do not apply and are ignored. Result.NFE
// is the number of calls, one per drawn token.
func Autoregressive(d Denoiser, prompt []int32, n, window int, opt Options) (Result, error) {
	if n <= 0 {
		return Result{}, fmt.Errorf("sample: n %d, want > 0", n)
	}
	if window < 0 {
		return Result{}, fmt.Errorf("sample: window %d, want >= 0", window)
	}
	// Only the sampling fields matter: resolve the rest as defaults.
	opt.Grid, opt.Strategy, opt.Confidence = "", "", ""
	opt.BlockLength, opt.CFGScale, opt.Steps, opt.Threshold = 0, 0, 0, 0
	c, err := resolve(opt, d.Vocab())
	if err != nil {
		return Result{}, err
	}
	for i, t := range prompt {
		if t < 0 || int(t) >= c.v || t == c.mask {
			return Result{}, fmt.Errorf("sample: prompt token %d at position %d is not a real token of a %d vocabulary", t, i, c.v)
		}
	}
	sc := newScorer(&c)
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	p := len(prompt)
	x := make([]int32, p+n) // [prompt, drawn..., MASK...]
	copy(x, prompt)
	for i := p; i < len(x); i++ {
		x[i] = c.mask
	}
	var ctx []int32 // the network's input: [EOT] when there is no prompt, then x[:p+j]
	if p == 0 {
		ctx = []int32{c.eot}
	}
	base := len(ctx)
	r := Result{}
	for j := range n {
		ctx = append(ctx[:base], x[:p+j]...)
		in := ctx
		if window > 0 && len(in) > window {
			in = in[len(in)-window:]
		}
		out, err := d.Logits(in)
		r.NFE++
		if err != nil {
			return Result{}, fmt.Errorf("sample: denoiser call %d: %w", r.NFE, err)
		}
		v, L := c.v, len(in)
		if len(out) != L*v {
			return Result{}, fmt.Errorf("sample: denoiser call %d returned %d logits, want len(ids)*vocab = %d*%d", r.NFE, len(out), L, v)
		}
		t, _, err := sc.score(out[(L-1)*v:L*v], nil, false, rng)
		if err != nil {
			return Result{}, fmt.Errorf("sample: position %d: %w", p+j, err)
		}
		x[p+j] = t
		r.Steps++
		if opt.OnStep != nil {
			opt.OnStep(r.Steps, x, []int{p + j})
		}
		if c.StopAtEOT && t == c.eot {
			r.IDs = slices.Clone(x[:p+j])
			r.Generated = slices.Clone(x[p : p+j])
			return r, nil
		}
	}
	r.IDs = x
	r.Generated = x[p:]
	return r, nil
}
