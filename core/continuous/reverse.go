package continuous

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// The reverse process. The denoiser estimates the clean latents z0 from z_t; the score of
// the VP forward process is then -(z_t - sqrt(a_t) z0_hat)/(1 - a_t). Each step from t to
// s < t integrates the reverse-time equation exactly over [s, t] with z0_hat held fixed:
//
//   - "sde": the reverse VP SDE. With z0_hat fixed the SDE is linear, and its exact
//     transition is Gaussian, N(mu, sigma^2 I) with
//     mu = sqrt(a_s)(1 - a_t/a_s)/(1 - a_t) z0_hat + sqrt(a_t/a_s)(1 - a_s)/(1 - a_t) z_t,
//     sigma^2 = (1 - a_t/a_s)(1 - a_s)/(1 - a_t)
//     (DDPM's posterior q(z_s | z_t, z0_hat)). It agrees with an Euler-Maruyama step to
//     first order in t - s, and unlike the literal Euler-Maruyama update it stays stable
//     where beta(t) (t - s) is large: under tan-d, beta grows like 1/(1-t), so the first
//     steps from t = 1 would overshoot.
//   - "ode": the probability-flow ODE, integrated the same way (DDIM):
//     z_s = sqrt(a_s) z0_hat + sqrt(1 - a_s) (z_t - sqrt(a_t) z0_hat)/sqrt(1 - a_t).
//
// The denoiser runs at Steps equally spaced times from t = 1 to TMin; its estimate at the
// last one is decoded to tokens (TEncDM decodes the final estimate).

// Solvers names the reverse-step rules.
var Solvers = []string{"sde", "ode"}

// Options are the sampler's settings.
type Options struct {
	Steps  int     // denoiser calls (default 50)
	TMin   float64 // last time of the grid (default 0.01)
	Solver string  // "sde" (default) or "ode"
	Seed   uint64

	// NoSelfCond feeds zeros as the self-conditioning input at every step instead of the
	// previous estimate (a denoiser with SelfCond was trained so half the time). Each
	// step's estimate then depends on its state alone: the chain speculative sampling
	// reproduces exactly (see speculative.go).
	NoSelfCond bool

	// OnStep, if not nil, sees each step's estimate of the clean latents (L, D) after
	// step k of Steps at time t; the estimate's rows for known tokens are their clean
	// latents. It may decode them (Model.Tokens) for a live view.
	OnStep func(k int, t float64, z0 []float32)
}

// Defaults fills the zero fields.
func (o Options) withDefaults() Options {
	if o.Steps == 0 {
		o.Steps = 50
	}
	if o.TMin == 0 {
		o.TMin = 0.01
	}
	if o.Solver == "" {
		o.Solver = "sde"
	}
	return o
}

// Result is a sample and what it cost.
type Result struct {
	Tokens        []int32
	DenoiserCalls int
	DecoderCalls  int
	FinalEstimate []float32 // (L, D): the decoded latents
}

// Sample fills the positions of template (L ids) that hold mask, keeping the others: their
// latents are encoded once (the encoder reads the template, mask included, as the masked
// model it is) and held at their clean values at every step, with time 0 in the
// denoiser's time input (the denoiser was trained with such clean rows), so a prompt, a
// suffix or any known tokens condition the sample: inpainting in latent space.
func (m *Model) Sample(template []int32, mask int32, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	L, D := len(template), m.Space.D()
	if L == 0 || L > m.Denoiser.Cfg.SeqLen {
		return nil, fmt.Errorf("continuous: %d positions, the model's window is 1..%d", L, m.Denoiser.Cfg.SeqLen)
	}
	if opt.Steps < 1 || !(opt.TMin > 0 && opt.TMin < 1) {
		return nil, fmt.Errorf("continuous: need steps >= 1 and 0 < tmin < 1 (have %d, %g)", opt.Steps, opt.TMin)
	}
	if opt.Solver != "sde" && opt.Solver != "ode" {
		return nil, fmt.Errorf("continuous: solver %q: want sde or ode", opt.Solver)
	}
	V := int32(m.Decoder.Cfg.Vocab)
	known := make([]bool, L)
	nKnown := 0
	for i, id := range template {
		if id < 0 || id >= V {
			return nil, fmt.Errorf("continuous: token %d at position %d outside the vocabulary of %d", id, i, V)
		}
		known[i] = id != mask
		if known[i] {
			nKnown++
		}
	}
	if nKnown == L {
		return nil, errors.New("continuous: nothing to generate: every position is known")
	}
	clean := make([]float32, L*D)
	if nKnown > 0 {
		m.Space.Encode(clean, template, 1)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0417))
	z := make([]float32, L*D)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	hold(z, clean, known, D)
	rowT := make([]float32, L)
	var sc []float32 // the previous estimate (self-conditioning); nil at the first step
	est := make([]float32, L*D)
	res := &Result{}
	h := 0.0 // the grid's spacing: Steps calls at 1, ..., TMin
	if opt.Steps > 1 {
		h = (1 - opt.TMin) / float64(opt.Steps-1)
	}
	for k := 0; k < opt.Steps; k++ {
		t := 1 - float64(k)*h
		s := t - h
		for i := range rowT {
			rowT[i] = float32(t)
			if known[i] {
				rowT[i] = 0
			}
		}
		copy(est, m.Denoiser.Denoise(z, sc, rowT, 1))
		res.DenoiserCalls++
		hold(est, clean, known, D)
		if opt.OnStep != nil {
			opt.OnStep(k+1, t, est)
		}
		if k == opt.Steps-1 {
			break // the last estimate is the sample
		}
		m.step(z, est, t, s, opt.Solver, rng)
		hold(z, clean, known, D)
		if m.Denoiser.Cfg.SelfCond && !opt.NoSelfCond {
			sc = append(sc[:0], est...)
		}
	}
	res.Tokens = m.Tokens(est)
	res.DecoderCalls++
	for i, k := range known {
		if k {
			res.Tokens[i] = template[i]
		}
	}
	res.FinalEstimate = est
	return res, nil
}

// step moves z from time t to s in place with the solver's rule (see the top of the file).
func (m *Model) step(z, est []float32, t, s float64, solver string, rng *rand.Rand) {
	at, as := m.Schedule.Alpha(t), m.Schedule.Alpha(s)
	if solver == "ode" {
		ca := math.Sqrt(as)
		ce := math.Sqrt(1-as) / math.Sqrt(max(1-at, 1e-12))
		sat := math.Sqrt(at)
		for i := range z {
			eps := float64(z[i]) - sat*float64(est[i])
			z[i] = float32(ca*float64(est[i]) + ce*eps)
		}
		return
	}
	r := at / as // a_{t|s}
	den := max(1-at, 1e-12)
	c0 := math.Sqrt(as) * (1 - r) / den
	ct := math.Sqrt(r) * (1 - as) / den
	sd := math.Sqrt(max(0, (1-r)*(1-as)/den))
	for i := range z {
		z[i] = float32(c0*float64(est[i]) + ct*float64(z[i]) + sd*rng.NormFloat64())
	}
}

// Tokens decodes latents (L, D) to the most likely token at each position.
func (m *Model) Tokens(z []float32) []int32 {
	D, V := m.Space.D(), m.Decoder.Cfg.Vocab
	L := len(z) / D
	logits := m.Decoder.Decode(z, 1)
	out := make([]int32, L)
	for i := range out {
		row := logits[i*V : (i+1)*V]
		best := 0
		for v := 1; v < V-1; v++ { // the last id is MASK: never text
			if row[v] > row[best] {
				best = v
			}
		}
		out[i] = int32(best)
	}
	return out
}

// hold writes the clean latents of the known rows into z.
func hold(z, clean []float32, known []bool, D int) {
	for i, k := range known {
		if k {
			copy(z[i*D:(i+1)*D], clean[i*D:(i+1)*D])
		}
	}
}
