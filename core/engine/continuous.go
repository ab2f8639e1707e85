package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// A continuous model (core/continuous) samples within its window: its latents are
// denoised from Gaussian noise in Steps denoiser calls, on the CPU or on a GPU backend,
// and each step's estimate is decoded for the live view.

// ContinuousSteps is a continuous model's default number of denoiser calls (the command's
// too): fewer lose quality fast (TEncDM's ablation).
const ContinuousSteps = 50

// LiveEvery is how often a continuous sample's live view decodes the estimate: every
// step. The decoder (2 blocks and the 4,096-word head of the release) costs about half a
// denoiser call (6 blocks) on the page's CPU path: 7.3 against 16.7 ms at 48 positions,
// best of 5 runs with the provisional release (17 against 30 ms in a busier run;
// BenchmarkContinuousStepSIMD in wasm/simd, under Node on a shared 2-core machine), so
// decoding every step makes a sample about 1.5x as long as decoding only the last
// estimate; on the GPU it runs beside the denoiser and reads back 16 bytes a position.
// The view is what the reader came for, text condensing out of noise, and 50 steps take
// a few seconds either way.
const LiveEvery = 1

// loadContinuous builds the engine of a continuous model's release file (encoder: the
// bytes of the encoder file it refers to, if it does). The GPU, if any, comes later
// (StartGPU), as for the other models.
func loadContinuous(f *checkpoint.File, encoder []byte, tok *tokenizer.Tokenizer, size int) (*Engine, error) {
	var enc *checkpoint.File
	if ref, ok := f.Notes[continuous.EncoderFileNote]; ok {
		if encoder == nil {
			return nil, fmt.Errorf("weights: the continuous model's encoder is the masked model %s, which was not given", ref)
		}
		var err error
		if enc, err = continuous.CheckEncoder(ref, encoder, "the encoder file"); err != nil {
			return nil, fmt.Errorf("weights: %w", err)
		}
		size += len(encoder)
	}
	cm, err := continuous.OpenWith(f, enc)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	den, dec := cm.Denoiser.Cfg, cm.Decoder.Cfg
	if tok.Vocab() != dec.Vocab || cm.Space.Net.Cfg.Vocab != dec.Vocab {
		return nil, fmt.Errorf("weights: tokenizer has %d ids, encoder %d, decoder %d", tok.Vocab(), cm.Space.Net.Cfg.Vocab, dec.Vocab)
	}
	// Input and Pieces read the window, the vocabulary and the special ids from cfg.
	cfg := dec
	cfg.SeqLen = min(den.SeqLen, dec.SeqLen, cm.Space.Net.Cfg.SeqLen)
	e := &Engine{cfg: cfg, tok: tok, cont: cm, file: f}
	e.info = Info{Backend: cpuName(), CPUName: cpuName(), SelfTestDiff: -1, Config: den, Decoder: &dec, DType: mainDType(f),
		CPUKernel: blas.Name(), Params: den.NumParams() + dec.NumParams() + cm.Space.Net.Cfg.NumParams(), Bytes: size, Kind: "continuous",
		Fallback: "the GPU has not been started"}
	e.selfTest = func(g GPU) (SelfTestResult, error) {
		b, ok := g.(ContinuousGPU)
		if !ok {
			return SelfTestResult{MaxDiff: -1}, errors.New("the GPU backend does not run continuous models")
		}
		e.cpuBusy.Lock() // the test runs the CPU model, which a sample may hold
		defer e.cpuBusy.Unlock()
		return ContinuousSelfTest(b, cm)
	}
	return e, nil
}

// ContinuousSelfTest runs the same two denoiser calls, one update between them, and a
// decoder call on the GPU backend and on the CPU, from a fixed input (SelfTestIDs' known
// positions held, noise from a fixed seed), and compares the estimates and the logits:
// MaxDiff is the larger of the two's max |gpu - cpu| over max(1, max |cpu|). Relative,
// because a trained decoder's logits reach 20 and more, where float32 sums in another
// order differ by about 1e-3 (the provisional release: 9e-4 at logits up to 21, 4e-5
// relative), while the estimates are normalised latents of order 1. The times are the
// faster of the two denoiser calls on each side.
func ContinuousSelfTest(g ContinuousGPU, cm *continuous.Model) (SelfTestResult, error) {
	r := SelfTestResult{MaxDiff: -1}
	cfg := cm.Decoder.Cfg
	cfg.SeqLen = min(cfg.SeqLen, cm.Denoiser.Cfg.SeqLen)
	ids := SelfTestIDs(cfg)
	L, D := len(ids), cm.Space.D()
	known := make([]bool, L)
	t := make([]float32, L)
	for i, id := range ids {
		known[i] = id != cfg.MaskID()
		if !known[i] {
			t[i] = 0.6
		}
	}
	clean := make([]float32, L*D)
	cm.Space.Encode(clean, ids, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	z, noise := make([]float32, L*D), make([]float32, L*D)
	for i := range z {
		z[i], noise[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	type result struct {
		est, logits []float32
		took        time.Duration
	}
	run := func(b continuous.Backend, logits func() ([]float32, error)) (res result, err error) {
		if err = b.Begin(z, clean, known); err != nil {
			return res, err
		}
		t0 := time.Now()
		if err = b.Denoise(t); err != nil {
			return res, err
		}
		first := time.Since(t0)
		if err = b.Update(0.3, 0.9, 0.2, noise); err != nil {
			return res, err
		}
		t0 = time.Now()
		if err = b.Denoise(t); err != nil {
			return res, err
		}
		if res.est, err = b.Estimate(); err != nil {
			return res, err
		}
		res.took = min(first, time.Since(t0)) // one pause (a collection, a compile) must not decide

		res.logits, err = logits()
		return res, err
	}
	cpu := cm.CPU()
	want, err := run(cpu, func() ([]float32, error) { return slices.Clone(cpu.Logits()), nil })
	if err != nil {
		return r, err
	}
	got, err := run(g, g.Logits)
	r.CPU, r.GPU = want.took, got.took
	if err != nil {
		return r, err
	}
	if len(got.est) != len(want.est) || len(got.logits) != len(want.logits) {
		r.MaxDiff = math.Inf(1)
		return r, fmt.Errorf("GPU returned %d latents and %d logits, want %d and %d", len(got.est), len(got.logits), len(want.est), len(want.logits))
	}
	r.MaxDiff = max(relDiff(got.est, want.est), relDiff(got.logits, want.logits))
	return r, nil
}

// relDiff is maxDiff(a, b) over max(1, max |b|).
func relDiff(a, b []float32) float64 {
	scale := 1.0
	for _, v := range b {
		scale = max(scale, math.Abs(float64(v)))
	}
	return maxDiff(a, b) / scale
}

// maxDiff is max |a - b|, +Inf if either holds NaN.
func maxDiff(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// checkContinuous refuses what a continuous model cannot do with r.
func (e *Engine) checkContinuous(r Request) error {
	switch {
	case r.Draft != "":
		return errors.New("speculative sampling needs a masked diffusion model; this one is continuous")
	case e.long(r):
		return fmt.Errorf("length %d: a continuous model writes within its window of %d tokens", r.Length, e.cfg.SeqLen)
	case r.Solver != "" && !slices.Contains(continuous.Solvers, r.Solver):
		return fmt.Errorf("solver %q: want one of %v", r.Solver, continuous.Solvers)
	}
	return nil
}

// sampleContinuous runs r on a continuous model: the prompt's (or the infill text's)
// tokens held as clean latents, the rest denoised in r.Steps calls (0: ContinuousSteps).
// Each step's estimate is decoded for onStep; the positions whose token changed since the
// last view are marked Committed. If the GPU fails midway the sample runs again on the
// CPU from the start: the GPU's state (the latents) is lost with it, and the same seed
// draws the same noise, so the CPU writes what the GPU would have.
func (e *Engine) sampleContinuous(ctx context.Context, r Request, onStep func(Step)) (Output, error) {
	if err := e.checkContinuous(r); err != nil {
		return Output{}, err
	}
	onGPU, err := e.onGPU(ctx, r.Backend)
	if err != nil {
		return Output{}, err
	}
	// The CPU model is this sample's, also on the GPU, which may fall back to it.
	e.cpuBusy.Lock()
	defer e.cpuBusy.Unlock()
	ids, trimmed, err := e.Input(r)
	if err != nil {
		return Output{}, err
	}
	mask := e.cfg.MaskID()
	given, holes := e.given(ids)
	steps := r.Steps
	if steps == 0 {
		steps = ContinuousSteps
	}
	start := time.Now()
	fallback := "" // why the sample moved to the CPU
	var res *continuous.Result
	for {
		var b continuous.Backend = e.cont.CPU()
		backend := e.info.CPUName
		if onGPU {
			e.mu.Lock()
			g, name := e.gpu, e.info.GPUName
			e.mu.Unlock()
			if g == nil {
				return Output{}, errors.New("no GPU backend: " + e.Info().Fallback)
			}
			b, backend = g.(ContinuousGPU), name
		}
		calls := 0
		shown := slices.Clone(ids)
		opt := continuous.Options{Steps: steps, Solver: r.Solver, Seed: r.Seed, TokensEvery: LiveEvery}
		if onStep != nil {
			opt.OnTokens = func(k int, t float64, now []int32) {
				var changed []int
				for i, id := range now {
					if !given[i] && id != shown[i] {
						shown[i] = id
						changed = append(changed, i)
					}
				}
				onStep(Step{Step: k, NFE: k, T: t, Seconds: time.Since(start).Seconds(), Fallback: fallback,
					Pieces: e.Pieces(shown, given, changed)})
			}
		}
		res, err = e.cont.SampleOn(canceled{b, ctx, &calls}, ids, mask, opt)
		switch {
		case err == nil:
			o := e.continuousOutput(r, res, given, holes, trimmed, steps)
			o.Backend, o.Fallback = backend, fallback
			return o, nil
		case errors.Is(err, ErrCanceled) || ctx.Err() != nil:
			return Output{}, ErrCanceled
		case !onGPU:
			return Output{}, err
		}
		fallback = fmt.Sprintf("the GPU failed after %d denoiser calls (%v); the sample ran again on the CPU", calls, err)
		e.dropGPU(err)
		onGPU = false
	}
}

// continuousOutput is the Output of a finished continuous sample.
func (e *Engine) continuousOutput(r Request, res *continuous.Result, given []bool, holes, trimmed, steps int) Output {
	out := res.Tokens
	if r.StopAtEOT && r.Mode != "infill" {
		out = e.cutAtEOT(out, given)
	}
	return Output{IDs: out, Tokens: holes, NFE: res.DenoiserCalls, Steps: steps, Trimmed: trimmed, Chunks: 1,
		Pieces: e.Pieces(out, given[:len(out)], nil)}
}

// canceled is a backend that stops before each denoiser call once ctx is done, counting
// the calls that succeeded.
type canceled struct {
	continuous.Backend
	ctx   context.Context
	calls *int
}

func (c canceled) Denoise(t []float32) error {
	if c.ctx.Err() != nil {
		return ErrCanceled
	}
	err := c.Backend.Denoise(t)
	if err == nil {
		*c.calls++
	}
	return err
}

// ContinuousChoice is what the page needs to sample a continuous model: its default steps
// and the solvers, the default first.
type ContinuousChoice struct {
	Steps   int      `json:"steps"`
	Solvers []string `json:"solvers"`
}
