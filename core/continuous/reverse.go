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
	// OnTokens, if not nil, sees the estimate decoded by the backend (its Tokens, the known
	// positions holding their template ids) after every TokensEvery-th step (0: every
	// step) and the last: a live view that costs one decoder call each, on the backend.
	OnTokens    func(k int, t float64, ids []int32)
	TokensEvery int
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
	if o.TokensEvery == 0 {
		o.TokensEvery = 1
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

// Sample is SampleOn the CPU backend.
func (m *Model) Sample(template []int32, mask int32, opt Options) (*Result, error) {
	return m.SampleOn(m.CPU(), template, mask, opt)
}

// SampleOn fills the positions of template (L ids) that hold mask, keeping the others, with
// the latents and networks on b: the known positions' latents are encoded once (on the
// CPU: the encoder reads the template, mask included, as the masked model it is) and held
// at their clean values at every step, with time 0 in the denoiser's time input (the
// denoiser was trained with such clean rows), so a prompt, a suffix or any known tokens
// condition the sample: inpainting in latent space. The noise is drawn here, so that every
// backend consumes the same random numbers for a seed.
func (m *Model) SampleOn(b Backend, template []int32, mask int32, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	L, D := len(template), m.Space.D()
	if opt.TokensEvery < 1 {
		return nil, fmt.Errorf("continuous: need tokens-every >= 1 (have %d)", opt.TokensEvery)
	}
	if opt.Solver != "sde" && opt.Solver != "ode" {
		return nil, fmt.Errorf("continuous: solver %q: want sde or ode", opt.Solver)
	}
	known, clean, err := m.prepare(template, mask, opt)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0417))
	z := make([]float32, L*D)
	normals(z, rng)
	if opt.NoSelfCond {
		cpu, ok := b.(*CPUBackend)
		if !ok {
			return nil, errors.New("continuous: NoSelfCond is implemented on the CPU backend only")
		}
		cpu.noSelfCond = true
	}
	if err := b.Begin(z, clean, known); err != nil {
		return nil, err
	}
	noise := z // reused: the backend keeps its own copy of z
	rowT := make([]float32, L)
	res := &Result{}
	decoded := func() ([]int32, error) {
		ids, err := b.Tokens()
		if err != nil {
			return nil, err
		}
		res.DecoderCalls++
		for i, k := range known {
			if k {
				ids[i] = template[i]
			}
		}
		return ids, nil
	}
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
		if err := b.Denoise(rowT); err != nil {
			return nil, err
		}
		res.DenoiserCalls++
		last := k == opt.Steps-1
		if opt.OnStep != nil {
			est, err := b.Estimate()
			if err != nil {
				return nil, err
			}
			opt.OnStep(k+1, t, est)
		}
		if opt.OnTokens != nil && (last || (k+1)%opt.TokensEvery == 0) {
			ids, err := decoded()
			if err != nil {
				return nil, err
			}
			opt.OnTokens(k+1, t, ids)
			if last {
				res.Tokens = ids
			}
		}
		if last {
			break // the last estimate is the sample
		}
		c0, ct, sd := m.coefficients(t, s, opt.Solver)
		var eps []float32
		if sd != 0 {
			normals(noise, rng)
			eps = noise
		}
		if err := b.Update(c0, ct, sd, eps); err != nil {
			return nil, err
		}
	}
	if res.Tokens == nil {
		ids, err := decoded()
		if err != nil {
			return nil, err
		}
		res.Tokens = append([]int32(nil), ids...)
	}
	est, err := b.Estimate()
	if err != nil {
		return nil, err
	}
	res.FinalEstimate = est
	return res, nil
}

// coefficients are the step from t to s of the solver's rule (see the top of the file) as
// z_s = c0 z0_hat + ct z_t + sd eps, eps ~ N(0, I): the ODE's DDIM step is
// sqrt(a_s) z0_hat + sqrt(1-a_s)/sqrt(1-a_t) (z_t - sqrt(a_t) z0_hat), so its c0 is
// sqrt(a_s) - sqrt(a_t) sqrt(1-a_s)/sqrt(1-a_t), its ct the ratio and its sd 0.
func (m *Model) coefficients(t, s float64, solver string) (c0, ct, sd float32) {
	at, as := m.Schedule.Alpha(t), m.Schedule.Alpha(s)
	if solver == "ode" {
		ce := math.Sqrt(1-as) / math.Sqrt(max(1-at, 1e-12))
		return float32(math.Sqrt(as) - ce*math.Sqrt(at)), float32(ce), 0
	}
	r := at / as // a_{t|s}
	den := max(1-at, 1e-12)
	return float32(math.Sqrt(as) * (1 - r) / den), float32(math.Sqrt(r) * (1 - as) / den),
		float32(math.Sqrt(max(0, (1-r)*(1-as)/den)))
}

// normals fills z with independent standard normal draws from rng.
func normals(z []float32, rng *rand.Rand) {
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
}

// Tokens decodes latents (L, D) to the most likely token at each position.
func (m *Model) Tokens(z []float32) []int32 { return m.tokensBatch(z, 1) }

// hold writes the clean latents of the known rows into z.
func hold(z, clean []float32, known []bool, D int) {
	for i, k := range known {
		if k {
			copy(z[i*D:(i+1)*D], clean[i*D:(i+1)*D])
		}
	}
}

// prepare checks the template (L ids, mask where a token is to be generated) and the
// options' grid, and encodes the known rows once: known[i] says position i is given,
// clean (L, D) holds their latents (zeros elsewhere).
func (m *Model) prepare(template []int32, mask int32, opt Options) (known []bool, clean []float32, err error) {
	L, D := len(template), m.Space.D()
	if L == 0 || L > m.Denoiser.Cfg.SeqLen {
		return nil, nil, fmt.Errorf("continuous: %d positions, the model's window is 1..%d", L, m.Denoiser.Cfg.SeqLen)
	}
	if opt.Steps < 1 || !(opt.TMin > 0 && opt.TMin < 1) {
		return nil, nil, fmt.Errorf("continuous: need steps >= 1 and 0 < tmin < 1 (have %d, %g)", opt.Steps, opt.TMin)
	}
	V := int32(m.Decoder.Cfg.Vocab)
	known = make([]bool, L)
	nKnown := 0
	for i, id := range template {
		if id < 0 || id >= V {
			return nil, nil, fmt.Errorf("continuous: token %d at position %d outside the vocabulary of %d", id, i, V)
		}
		known[i] = id != mask
		if known[i] {
			nKnown++
		}
	}
	if nKnown == L {
		return nil, nil, errors.New("continuous: nothing to generate: every position is known")
	}
	clean = make([]float32, L*D)
	if nKnown > 0 {
		m.Space.Encode(clean, template, 1)
	}
	return known, clean, nil
}
