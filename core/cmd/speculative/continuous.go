package main

import (
	"fmt"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// continuousStrategy labels the lines of a continuous target: its sampler has one rule,
// the reverse SDE's exact Gaussian step.
const continuousStrategy = "sde"

// adaptiveSuffix marks the lines of the frozen draft with an adaptive length (-adaptive).
const adaptiveSuffix = " (adaptive)"

// continuousConfigs are the lines of a continuous diffusion target: the plain sde sampler,
// then the frozen draft at each K (the only draft a continuous model has), and with
// -adaptive the same with continuous.SpecOptions.Adaptive. -strategies,
// -temperature and -topp do not apply; -steps is the denoiser's grid.
func continuousConfigs(f *flags, cm *continuous.Model, mask int32) ([]config, error) {
	for _, d := range cli.SplitList(f.drafts) {
		if d != sample.DraftFrozen {
			return nil, fmt.Errorf("-drafts %q: %s is a continuous diffusion model; its only draft is %s", f.drafts, f.model, sample.DraftFrozen)
		}
	}
	ids := func() []int32 { return slices.Repeat([]int32{mask}, f.n) }
	opt := func(seed uint64) continuous.Options {
		return continuous.Options{Steps: f.steps, Seed: seed, NoSelfCond: !f.selfCond}
	}
	// counts puts a continuous sample in the masked table's terms: its tokens, the grid's
	// steps, the target's calls and rows and the drafted steps that stood.
	counts := func(r *continuous.Result, sr *continuous.SpecResult) sample.SpecResult {
		out := sample.SpecResult{Result: sample.Result{Generated: r.Tokens, Steps: f.steps - 1}}
		if sr == nil {
			out.TargetCalls, out.TargetRows = r.DenoiserCalls, r.DenoiserCalls
			return out
		}
		out.TargetCalls, out.TargetRows, out.DraftCalls = sr.TargetCalls, sr.TargetRows, sr.DraftCalls
		out.Rounds, out.DraftedSteps, out.CheckedSteps, out.AcceptedSteps = sr.Rounds, sr.DraftedSteps, sr.CheckedSteps, sr.AcceptedSteps
		return out
	}
	configs := []config{{strategy: continuousStrategy, draw: func(seed uint64) (sample.SpecResult, error) {
		r, err := cm.Sample(ids(), mask, opt(seed))
		if err != nil {
			return sample.SpecResult{}, err
		}
		return counts(r, nil), nil
	}}}
	if len(cli.SplitList(f.drafts)) == 0 {
		return configs, nil
	}
	for _, adaptive := range []bool{false, true} {
		if adaptive && !f.adaptive {
			break
		}
		name := sample.DraftFrozen
		if adaptive {
			name += adaptiveSuffix
		}
		for _, k := range f.ks {
			spec := continuous.SpecOptions{K: k, Adaptive: adaptive}
			configs = append(configs, config{strategy: continuousStrategy, draft: name, k: k,
				draw: func(seed uint64) (sample.SpecResult, error) {
					sr, err := cm.SampleSpeculative(ids(), mask, opt(seed), spec)
					if err != nil {
						return sample.SpecResult{}, err
					}
					return counts(&sr.Result, sr), nil
				}})
		}
	}
	return configs, nil
}
