package continuous

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// Speculative sampling of the "sde" chain (De Bortoli et al. 2025, "Accelerated diffusion
// models via speculative sampling", with their frozen draft). A step from z_t at the
// target's estimate E is Gaussian, q = N(m_q, sd^2 I) with m_q = c0 E + ct z_t, and sd
// depends on the grid alone. The frozen draft reuses the target's latest estimate F for
// the next K steps: it proposes y_j = m_p + sd xi_j, m_p = c0 F + ct x_j, from each state
// x_j it reached, at the cost of a few vector operations. The target then estimates the
// clean latents at x_0 .. x_K in ONE batched call of K+1 sequences and checks the steps in
// order: y_j is kept with probability min(1, q(y_j)/p(y_j)); at the first rejection the
// step's value becomes the reflection of the draft's noise across the hyperplane between
// the two means, y = m_q + sd (I - 2 e e^T) xi_j with e = (m_p - m_q)/|m_p - m_q|, and the
// rest of the draft is dropped. That is the reflection maximal coupling (Bou-Rabee et al.
// 2020): the map is an isometry that takes p to q and fixes min(p, q), so it takes the
// rejected part of p, p - min(p, q), onto q - min(p, q), and the step's value is
// distributed exactly as q. When the whole chain stands, the estimate at x_K gives one
// more step from the target alone (or, at the end of the grid, the sample). So every step
// is the target's transition from the state it starts from, and the output has the plain
// sampler's distribution.
//
// Self-conditioning. The plain sampler feeds each call the estimate of the call before,
// which for the j-th state of a chain comes out of the same batch: it cannot be an input
// of it. So the exact statement is: for a denoiser without self-conditioning, or with
// Options.NoSelfCond (zeros as the second input, as half of training saw), the speculative
// output has exactly the plain sampler's distribution. With self-conditioning on, every
// row of a round's batch gets the frozen estimate F as its second input: for the round's
// first state that is the estimate at the state before, as in the plain sampler; for the
// j-th drafted state it is j+1 steps old. The steps are then exact transitions of the
// target given those inputs, but the chain is not the plain sampler's (SpecResult.Exact
// says which case ran).
//
// The "ode" solver is deterministic: a drafted state stands only when the draft's
// estimate equals the target's, so there is nothing to gain and it is refused.

// SpecOptions configures SampleSpeculative.
type SpecOptions struct {
	K int // drafted steps per round; the target checks them with one call of K+1 sequences

	// Adaptive drafts at most 2a+1 steps (and at most K) after a round whose a-th drafted
	// step was the last to stand before a rejection, and K after a round that stood whole.
	// Late in the grid the frozen draft is rejected at once (see weights/speculative.md):
	// there a round checks one drafted step instead of K, which saves target rows, not
	// calls. The length depends only on what came before, so the steps stay exact.
	Adaptive bool

	// OnStep, if not nil, is called instead of Options.OnStep for each state of the chain
	// in order, with how the state was reached: sample.FromTarget (the start, or a step
	// of the target alone), sample.Accepted (a drafted step that stood) or
	// sample.Corrected (the reflected value after a rejection).
	OnStep func(k int, t float64, z0 []float32, how sample.Origin)
}

// SpecResult is a speculative sample and what it cost.
type SpecResult struct {
	Result // DenoiserCalls is TargetCalls
	// TargetCalls are the target's sequential calls (a batched call counts once) and
	// TargetRows the sequences they evaluated; DraftCalls the draft network's calls (0:
	// the frozen draft is the target's estimate reused, no network).
	TargetCalls, TargetRows, DraftCalls int
	Rounds                              int // draft-then-verify rounds, one target call each
	// DraftedSteps counts the steps the draft proposed, CheckedSteps those the target
	// checked (up to the first rejection of each round), AcceptedSteps those that stood.
	DraftedSteps, CheckedSteps, AcceptedSteps int
	// Exact: the chain is the plain sampler's (no self-conditioning input, see above).
	Exact bool
}

// coupling is the verification's acceptance rule and correction; the exact ones are
// min(1, q/p) and the reflection. Tests plant wrong ones to show the exactness test bites.
type coupling struct {
	// accept is the probability of keeping a drafted value given log q(y)/p(y).
	accept func(logRatio float64) float64
	// correct writes into y (n) the value after a rejection from the two means and the
	// draft's noise xi (its drafted value was mp + sd xi).
	correct func(y, mq, mp, xi []float64, sd float64)
}

var reflection = coupling{
	accept:  func(lr float64) float64 { return math.Exp(min(0, lr)) },
	correct: reflect,
}

// reflect is y = mq + sd (xi - 2 (e.xi) e), e the unit vector from mq to mp; with mp = mq
// (no direction to reflect along: a rejection has probability 0 there) it is mq + sd xi.
func reflect(y, mq, mp, xi []float64, sd float64) {
	var nn, ex float64
	for i := range y {
		d := mp[i] - mq[i]
		nn += d * d
		ex += d * xi[i]
	}
	f := 0.0
	if nn > 0 {
		f = 2 * ex / nn // 2 (e.xi) / |mp - mq|
	}
	for i := range y {
		y[i] = mq[i] + sd*(xi[i]-f*(mp[i]-mq[i]))
	}
}

// SampleSpeculative is Sample with the "sde" steps drafted by the frozen draft and
// verified as described above, on the CPU (the batch is one call of the denoiser);
// opt.Seed seeds its own draws (the starting noise is the plain sampler's for the same
// seed, the rest differs).
func (m *Model) SampleSpeculative(template []int32, mask int32, opt Options, spec SpecOptions) (*SpecResult, error) {
	opt = opt.withDefaults()
	if err := checkSpec(opt, spec); err != nil {
		return nil, err
	}
	c, err := m.chainFor(template, mask, opt)
	if err != nil {
		return nil, err
	}
	est, res := c.speculative(opt, spec, reflection)
	res.Tokens, res.DecoderCalls, res.FinalEstimate = m.Tokens(est), 1, est
	for i, k := range c.known {
		if k {
			res.Tokens[i] = template[i]
		}
	}
	res.DenoiserCalls = res.TargetCalls
	return res, nil
}

// denoiser is what the speculative sampler asks of the denoiser network
// ((*model.Model).Denoise), so the tests can put a closed-form denoiser in its place.
type denoiser interface {
	Denoise(z, sc, t []float32, B int) []float32
}

// chain is a reverse run's fixed parts: the denoiser and its schedule, the time grid
// (Sample's: steps calls at 1, ..., TMin), and the rows held at their clean latents.
type chain struct {
	den      denoiser
	sched    Schedule
	selfCond bool // feed the frozen estimate as the denoiser's second input
	steps    int
	h        float64 // the grid's spacing
	L, D     int
	known    []bool    // (L)
	clean    []float32 // (L, D) the known rows' latents
}

// chainFor checks the template and the options (prepare, as Sample) and starts the chain.
func (m *Model) chainFor(template []int32, mask int32, opt Options) (*chain, error) {
	known, clean, err := m.prepare(template, mask, opt)
	if err != nil {
		return nil, err
	}
	return newChain(m.Denoiser, m.Schedule, m.Denoiser.Cfg.SelfCond && !opt.NoSelfCond, opt, known, clean, m.Space.D()), nil
}

func newChain(den denoiser, sched Schedule, selfCond bool, opt Options, known []bool, clean []float32, D int) *chain {
	c := &chain{den: den, sched: sched, selfCond: selfCond, steps: opt.Steps, L: len(known), D: D, known: known, clean: clean}
	if opt.Steps > 1 {
		c.h = (1 - opt.TMin) / float64(opt.Steps-1)
	}
	return c
}

// time is the time of the k-th denoiser call, k = 0 .. steps-1.
func (c *chain) time(k int) float64 { return 1 - float64(k)*c.h }

// times writes each row's time for a state at grid step k into rowT (L): known rows are
// clean (time 0).
func (c *chain) times(rowT []float32, k int) {
	for i := range rowT {
		rowT[i] = float32(c.time(k))
		if c.known[i] {
			rowT[i] = 0
		}
	}
}

// start draws the starting noise (L, D) as Sample does, the known rows held.
func (c *chain) start(rng *rand.Rand) []float32 {
	z := make([]float32, c.L*c.D)
	for i := range z {
		z[i] = float32(rng.NormFloat64())
	}
	hold(z, c.clean, c.known, c.D)
	return z
}

// sdeStep is the "sde" transition from t to s: z_s ~ N(c0 est + ct z_t, sd^2 I) (see
// reverse.go).
func sdeStep(sched Schedule, t, s float64) (c0, ct, sd float64) {
	at, as := sched.Alpha(t), sched.Alpha(s)
	r := at / as // a_{t|s}
	den := max(1-at, 1e-12)
	return math.Sqrt(as) * (1 - r) / den, math.Sqrt(r) * (1 - as) / den, math.Sqrt(max(0, (1-r)*(1-as)/den))
}

func checkSpec(opt Options, spec SpecOptions) error {
	switch {
	case spec.K < 1:
		return fmt.Errorf("continuous: speculative K %d, want >= 1", spec.K)
	case opt.Solver != "sde":
		return errors.New("continuous: speculative sampling needs the sde solver: the ode step is deterministic, so a drafted state would stand only where the draft's estimate is the target's")
	}
	return nil
}

// speculative runs the chain with the frozen draft and coupling cp; it returns the final
// estimate (L, D) and the counts.
func (c *chain) speculative(opt Options, spec SpecOptions, cp coupling) ([]float32, *SpecResult) {
	rng := rand.New(rand.NewPCG(opt.Seed, 0xc0417))
	L, D, K := c.L, c.D, spec.K
	n := L * D
	res := &SpecResult{Exact: !c.selfCond}
	report := func(k int, est []float32, how sample.Origin) {
		switch {
		case spec.OnStep != nil:
			spec.OnStep(k+1, c.time(k), est, how)
		case opt.OnStep != nil:
			opt.OnStep(k+1, c.time(k), est)
		}
	}
	xs := make([]float32, (K+1)*n) // the states x_0 .. x_K of a round
	mp := make([]float64, K*n)     // the draft's mean of each drafted step
	xi := make([]float64, K*n)     // the draft's noise of each drafted step
	mq, y := make([]float64, n), make([]float64, n)
	rowT := make([]float32, (K+1)*L)
	var scBuf []float32             // (B, L, D) the self-conditioning input: the frozen estimate in every row
	est := make([]float32, (K+1)*n) // the target's estimates at x_0 .. x_K
	var frozen []float32            // (L, D) the target's latest estimate; nil before its first call
	z := c.start(rng)
	how := sample.FromTarget // how z was reached
	limit := K               // drafted steps in the next round
	for k := 0; ; {          // z is the state at grid step k
		// Draft: up to K steps (none before the target's first estimate), the grid's last
		// state needing no step after it.
		copy(xs, z)
		d := 0
		for frozen != nil && d < limit && k+d < c.steps-1 {
			sd := c.mean(mp[d*n:(d+1)*n], frozen, xs[d*n:(d+1)*n], k+d)
			next := xs[(d+1)*n : (d+2)*n]
			for i := range n {
				xi[d*n+i] = rng.NormFloat64()
				next[i] = float32(mp[d*n+i] + sd*xi[d*n+i])
			}
			hold(next, c.clean, c.known, D)
			d++
		}
		res.DraftedSteps += d

		// Verify: the target at x_0 .. x_d in one call.
		B := d + 1
		for j := range B {
			c.times(rowT[j*L:(j+1)*L], k+j)
		}
		var sc []float32 // nil: zeros
		if c.selfCond && frozen != nil {
			scBuf = scBuf[:0]
			for range B {
				scBuf = append(scBuf, frozen...)
			}
			sc = scBuf
		}
		copy(est, c.den.Denoise(xs[:B*n], sc, rowT[:B*L], B))
		for j := range B {
			hold(est[j*n:(j+1)*n], c.clean, c.known, D)
		}
		res.TargetCalls++
		res.TargetRows += B
		res.Rounds++

		stood := true
		if spec.Adaptive {
			limit = K // unless a rejection below says otherwise
		}
		for j := range d {
			e := est[j*n : (j+1)*n]
			report(k+j, e, how)
			res.CheckedSteps++
			sd := c.mean(mq, e, xs[j*n:(j+1)*n], k+j)
			pm, pxi := mp[j*n:(j+1)*n], xi[j*n:(j+1)*n]
			if rng.Float64() < cp.accept(logRatio(mq, pm, pxi, sd)) {
				res.AcceptedSteps++
				how = sample.Accepted
				continue
			}
			cp.correct(y, mq, pm, pxi, sd)
			for i := range n {
				z[i] = float32(y[i])
			}
			hold(z, c.clean, c.known, D)
			frozen = append(frozen[:0], e...)
			k, how, stood = k+j+1, sample.Corrected, false
			if spec.Adaptive {
				limit = min(K, 2*j+1)
			}
			break
		}
		if !stood {
			continue
		}
		// The whole chain stood: x_d is the state, and the target's estimate there is
		// either the sample or one more step of the target alone.
		k += d
		copy(z, xs[d*n:(d+1)*n])
		last := est[d*n : (d+1)*n]
		report(k, last, how)
		if k == c.steps-1 {
			return append([]float32(nil), last...), res
		}
		sd := c.mean(mq, last, z, k) // the target's own step
		for i := range n {
			z[i] = float32(mq[i] + sd*rng.NormFloat64())
		}
		hold(z, c.clean, c.known, D)
		frozen = append(frozen[:0], last...)
		k, how = k+1, sample.FromTarget
	}
}

// mean writes into dst (L*D) the mean of the sde step from state x at grid step k with
// estimate est, c0 est + ct x, and returns the step's noise scale sd.
func (c *chain) mean(dst []float64, est, x []float32, k int) float64 {
	c0, ct, sd := sdeStep(c.sched, c.time(k), c.time(k+1))
	for i := range dst {
		dst[i] = c0*float64(est[i]) + ct*float64(x[i])
	}
	return sd
}

// logRatio is log q(y)/p(y) for the drafted y = mp + sd xi, q = N(mq, sd^2 I) and
// p = N(mp, sd^2 I): (|y-mp|^2 - |y-mq|^2)/(2 sd^2) = -(|mp-mq|^2 + 2 sd (mp-mq).xi)/(2 sd^2).
func logRatio(mq, mp, xi []float64, sd float64) float64 {
	var dd, dx float64
	for i := range mq {
		del := mp[i] - mq[i]
		dd += del * del
		dx += del * xi[i]
	}
	switch {
	case dd == 0:
		return 0
	case sd == 0:
		return math.Inf(-1) // a point mass elsewhere
	}
	return -(dd + 2*sd*dx) / (2 * sd * sd)
}
