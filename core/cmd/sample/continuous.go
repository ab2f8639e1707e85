package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/infill"
)

// continuousFlags are the flags that apply to a continuous model; any other given (the
// masked sampler's) is refused rather than silently ignored.
var continuousFlags = map[string]bool{"model": true, "prompt": true, "infill": true, "blank-len": true, "n": true, "steps": true,
	"solver": true, "selfcond": true, "draft": true, "k": true, "seed": true, "stop-eot": true, "visual": true, "visual-delay": true,
	"json": true, "threads": true}

// runContinuous samples a continuous diffusion model: the prompt (or the infill text's
// known tokens) held as clean latents, the rest denoised from Gaussian noise in -steps
// denoiser calls and decoded. The live view shows the decoded estimate at every step, so
// the text condenses out of noise.
func runContinuous(f *flags, stdout, stderr io.Writer, l *cli.Loaded) error {
	for _, name := range slices.Sorted(maps.Keys(f.set)) {
		if !continuousFlags[name] {
			return fmt.Errorf("-%s is for masked diffusion; %s is a continuous diffusion model (its flags: -n, -steps, -solver, -selfcond, -draft frozen, -k, -prompt, -infill, -seed)", name, f.model)
		}
	}
	cm, tok := l.Continuous, l.Tok
	L, mask := cm.Denoiser.Cfg.SeqLen, tok.Mask()
	var ids []int32
	var blanks [][2]int
	var err error
	if f.infill != "" {
		if ids, blanks, err = infill.Encode(tok, f.infill, f.blankLen, L); err != nil {
			return fmt.Errorf("-infill: %s (model %s)", strings.TrimPrefix(err.Error(), "infill: "), f.model)
		}
	} else {
		prompt := tok.Encode([]byte(f.prompt))
		if len(prompt)+f.n > L {
			return fmt.Errorf("prompt of %d tokens + -n %d is more than the %d positions of %s: a continuous model writes within its window", len(prompt), f.n, L, f.model)
		}
		ids = append(prompt, repeat(mask, f.n)...)
	}
	steps := f.steps
	if steps == 0 {
		steps = 50
	}
	opt := continuous.Options{Steps: steps, Solver: f.solver, Seed: f.seed}
	visual := f.visual && isTerminal(stdout) && (!f.asJSON || f.set["visual"])
	var view *liveView
	if visual {
		view = newLiveView(stdout, tok, ids, f.delay)
		shown := append([]int32(nil), ids...)
		opt.OnStep = func(k int, _ float64, z0 []float32) {
			now := cm.Tokens(z0)
			var changed []int
			for i, id := range ids {
				if id == mask && now[i] != shown[i] {
					shown[i] = now[i]
					changed = append(changed, i)
				}
			}
			view.frame(k, shown, changed)
		}
	}
	start := time.Now()
	r, spec, err := sampleContinuous(f, cm, ids, mask, opt, view)
	secs := time.Since(start).Seconds()
	if view != nil {
		secs -= view.slept.Seconds()
	}
	if err != nil {
		return err
	}
	out := ids
	var gen []int32
	for i, id := range ids {
		if id == mask {
			gen = append(gen, r.Tokens[i])
		}
	}
	out = r.Tokens
	if f.stopEOT && f.infill == "" {
		for i := len(ids) - f.n; i < len(out); i++ {
			if out[i] == tok.EOT() {
				out, gen = out[:i], gen[:i-(len(ids)-f.n)]
				break
			}
		}
	}
	o := output{
		Text: string(tok.Decode(out)), Generated: string(tok.Decode(gen)), Tokens: len(gen), IDs: out,
		NFE: r.DenoiserCalls, Steps: steps, StepsAsked: f.steps, Seconds: secs, Seed: f.seed,
		Prompt: f.prompt, Infill: f.infill, Model: f.model, BLAS: blas.Name(),
		Sampler: "continuous-diffusion", Solver: f.solver,
	}
	if len(gen) > 0 {
		o.NFEPerToken = float64(r.DenoiserCalls) / float64(len(gen))
	}
	for _, b := range blanks {
		o.Fills = append(o.Fills, string(tok.Decode(r.Tokens[b[0]:b[1]])))
	}
	if spec != nil {
		spec(&o)
	}
	return f.finish(stdout, stderr, view, out, o)
}
