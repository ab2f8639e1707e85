package main

import (
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// sampleContinuous samples a continuous diffusion model's template ids: with the plain
// sampler, or with -draft frozen the speculative one (continuous.SampleSpeculative, -k
// drafted steps per target call). fill, not nil with -draft, writes the speculative
// fields of the -json object (target calls and rows, draft calls, acceptance per step,
// whether the chain is exactly the plain one). With a live view the speculative run draws
// each state's decoded estimate, the tokens that changed coloured by how the state was
// reached (an accepted drafted step, a corrected one, or the target alone); the plain run
// keeps opt.OnStep. -selfcond=false sets opt.NoSelfCond for both.
func sampleContinuous(f *flags, cm *continuous.Model, ids []int32, mask int32, opt continuous.Options,
	view *liveView) (r *continuous.Result, fill func(*output), err error) {
	opt.NoSelfCond = !f.selfCond
	if f.draft == "" {
		r, err = cm.Sample(ids, mask, opt)
		return r, nil, err
	}
	if f.draft != sample.DraftFrozen {
		return nil, nil, fmt.Errorf("-draft %s: a continuous model takes -draft %s (the target's latest estimate reused for -k steps); there are no draft networks for latents", f.draft, sample.DraftFrozen)
	}
	spec := continuous.SpecOptions{K: f.k}
	if view != nil {
		shown := append([]int32(nil), ids...)
		var changed []int
		var how []sample.Origin
		spec.OnStep = func(k int, _ float64, z0 []float32, o sample.Origin) {
			now := cm.Tokens(z0)
			changed, how = changed[:0], how[:0]
			for i, id := range ids {
				if id == mask && now[i] != shown[i] {
					shown[i] = now[i]
					changed, how = append(changed, i), append(how, o)
				}
			}
			view.specFrame(k, shown, changed, how)
		}
	}
	sr, err := cm.SampleSpeculative(ids, mask, opt, spec)
	if err != nil {
		return nil, nil, err
	}
	gen := 0
	for _, id := range ids {
		if id == mask {
			gen++
		}
	}
	fill = func(o *output) {
		o.Draft, o.K = f.draft, f.k
		o.TargetCalls, o.TargetRows = sr.TargetCalls, sr.TargetRows
		o.DraftCalls, o.DraftedSteps = &sr.DraftCalls, &sr.DraftedSteps
		o.Exact = &sr.Exact
		if sr.CheckedSteps > 0 {
			o.AcceptPerStep = float64(sr.AcceptedSteps) / float64(sr.CheckedSteps)
		}
		o.TargetCallsPerToken = float64(sr.TargetCalls) / float64(gen)
	}
	return &sr.Result, fill, nil
}
