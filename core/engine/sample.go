package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

// Request is one sampling job from the page.
type Request struct {
	// Mode is "continue" (generate Length tokens after Prompt) or "infill" (fill each blank
	// of Prompt, written as core/infill reads it, with Length tokens).
	Mode   string `json:"mode"`
	Prompt string `json:"prompt"`
	Length int    `json:"length"`
	Steps  int    `json:"steps"`
	// The sampler's settings, as sample.Options (names in sample.Strategies, .Grids,
	// .Confidences). BlockLength 0 is the strategy's default (sample.DefaultBlock).
	Strategy    string  `json:"strategy"`
	Grid        string  `json:"grid"`
	Confidence  string  `json:"confidence"`
	BlockLength int     `json:"blockLength"`
	Threshold   float64 `json:"threshold"`
	Temperature float64 `json:"temperature"`
	TopK        int     `json:"topK"`
	TopP        float64 `json:"topP"` // 0: all tokens
	Seed        uint64  `json:"seed"`
	Backend     string  `json:"backend"` // "gpu", "cpu" or "" for the engine's default
	// StopAtEOT ends the text at the first end-of-text token the model writes (what would
	// follow is a new, unrelated document); past the window it also stops the calls there.
	StopAtEOT bool `json:"stopAtEOT"`
	// Draft selects speculative sampling (sample.Speculative): "" samples plainly,
	// sample.DraftFrozen drafts K steps from the target's latest output. Masked models within
	// the window only.
	Draft string `json:"draft"`
	K     int    `json:"k"` // drafted steps per target call; 0 is sample.DefaultK
	// Solver is a continuous model's reverse-step rule (continuous.Solvers; "" is "sde").
	// A continuous model reads Mode, Prompt, Length, Steps (0: ContinuousSteps), Seed,
	// Backend and StopAtEOT, and ignores the masked samplers' settings.
	Solver string `json:"solver,omitempty"`
}

// MaxLength bounds Request.Length in continue mode: past the model's window the text is
// written in chunks (sample.Long), each a reverse process of its own, so network calls
// and the live view's messages grow linearly with length.
const MaxLength = 1024

// Step is the sequence after one denoising step.
type Step struct {
	Step    int     `json:"step"`           // steps taken so far, 1-based
	NFE     int     `json:"nfe"`            // network calls so far
	Masked  int     `json:"masked"`         // positions still masked
	Seconds float64 `json:"seconds"`        // since sampling started
	Rows    int     `json:"rows,omitempty"` // speculative: sequences the target evaluated so far
	T       float64 `json:"t,omitempty"`    // continuous: the diffusion time of the step's estimate
	// Fallback says why the sample moved from the GPU to the CPU midway; "" if it has not.
	Fallback string `json:"fallback,omitempty"`
	Pieces
}

// Output is a finished sample.
type Output struct {
	Text         string  `json:"text"` // the whole sequence up to the first generated EOT, as valid UTF-8
	IDs          []int32 `json:"ids"`  // its token ids
	Tokens       int     `json:"tokens"`
	NFE          int     `json:"nfe"`
	Steps        int     `json:"steps"`
	Seconds      float64 `json:"seconds"`
	TokensPerSec float64 `json:"tokensPerSec"`
	Trimmed      int     `json:"trimmed"`            // prompt tokens dropped from the left to fit the window
	Backend      string  `json:"backend"`            // the backend that ran it
	Fallback     string  `json:"fallback,omitempty"` // why it finished on the CPU after the GPU failed
	Chunks       int     `json:"chunks"`             // reverse processes: 1 within the window, more past it
	// Speculative sampling only: the target's sequences evaluated (its calls are NFE) and
	// the drafted tokens it kept and replaced.
	TargetRows int `json:"targetRows,omitempty"`
	Accepted   int `json:"accepted,omitempty"`
	Corrected  int `json:"corrected,omitempty"`
	Pieces
}

// Input turns a request that fits the model's window into the token sequence to fill
// (MASK where the model writes) and the number of prompt tokens dropped to fit it. A longer
// continuation is Sample's (sample.Long), not Input's.
func (e *Engine) Input(r Request) (ids []int32, trimmed int, err error) {
	L, mask := e.cfg.SeqLen, e.cfg.MaskID()
	if r.Length < 1 {
		return nil, 0, fmt.Errorf("length %d: want at least 1 token", r.Length)
	}
	switch r.Mode {
	case "", "continue":
		if r.Length > L {
			return nil, 0, fmt.Errorf("length %d: the model writes at most %d tokens", r.Length, L)
		}
		ids = e.tok.Encode([]byte(r.Prompt))
		if over := len(ids) + r.Length - L; over > 0 {
			ids, trimmed = ids[over:], over
		}
		for range r.Length {
			ids = append(ids, mask)
		}
		return ids, trimmed, nil
	case "infill":
		ids, _, err := infill.Encode(e.tok, r.Prompt, r.Length, L)
		return ids, 0, err
	}
	return nil, 0, fmt.Errorf("mode %q: want continue or infill", r.Mode)
}

// long reports whether r continues past the model's window: more tokens than the window
// holds. A shorter one is sampled in one window, with the prompt trimmed on the left.
func (e *Engine) long(r Request) bool {
	return (r.Mode == "" || r.Mode == "continue") && r.Length > e.cfg.SeqLen
}

// check refuses what Sample cannot do with r, before any work.
func (e *Engine) check(r Request) error {
	switch {
	case r.Length > MaxLength:
		return fmt.Errorf("length %d: the page writes at most %d tokens", r.Length, MaxLength)
	case r.Draft != "" && r.Draft != sample.DraftFrozen:
		return fmt.Errorf("draft %q: want %q or none", r.Draft, sample.DraftFrozen)
	case r.Draft == "":
	case r.K < 0:
		return fmt.Errorf("speculative K %d: want 0 (the default, %d) or more", r.K, sample.DefaultK)
	case e.cfg.Causal:
		return errors.New("speculative sampling needs a masked diffusion model; this one is autoregressive")
	case e.long(r):
		return fmt.Errorf("speculative sampling works within the model's window of %d tokens; length %d is past it", e.cfg.SeqLen, r.Length)
	}
	return nil
}

// Sample runs one request, calling onStep (if not nil) after every step that committed
// tokens (a continuous model: after every step, see sampleContinuous). A causal (autoregressive) model writes left to right, one token per step, and
// ignores the masked samplers' settings (steps, strategy, grid, block). A masked model
// writes a continuation longer than its window in chunks of half the window (sample.Long:
// each chunk sees the latest text that fits beside it, Steps are shared out so that steps
// per token stay the same, and the steps' pieces hold the whole text so far). With
// r.Draft it samples speculatively (sample.Speculative), and the pieces mark accepted and
// corrected drafted tokens. It returns ErrCanceled when ctx is canceled, checked before
// each network call.
func (e *Engine) Sample(ctx context.Context, r Request, onStep func(Step)) (Output, error) {
	if e.cont != nil {
		start := time.Now()
		o, err := e.sampleContinuous(ctx, r, onStep)
		if err != nil {
			return Output{}, err
		}
		o.finish(time.Since(start))
		return o, nil
	}
	if err := e.check(r); err != nil {
		return Output{}, err
	}
	d, backend, onGPU, err := e.denoiser(ctx, r.Backend)
	if err != nil {
		return Output{}, err
	}
	// The CPU model is this sample's, also on the GPU, which may fall back to it.
	e.cpuBusy.Lock()
	defer e.cpuBusy.Unlock()
	g := guard(ctx, d)
	if onGPU {
		g.onGPUFailure = e.dropGPU
		if onStep != nil {
			each := onStep
			onStep = func(s Step) { s.Fallback = g.fallback; each(s) }
		}
	}
	start := time.Now()
	var o Output
	if e.long(r) {
		o, err = e.sampleLong(g, r, onStep, start)
	} else {
		o, err = e.sampleWindow(g, r, onStep, start)
	}
	if err != nil {
		if errors.Is(err, ErrCanceled) || ctx.Err() != nil {
			return Output{}, ErrCanceled
		}
		return Output{}, err
	}
	o.Backend, o.Fallback = backend, g.fallback
	if g.fallback != "" {
		o.Backend = cpuName()
	}
	o.finish(time.Since(start))
	return o, nil
}

// finish sets the text and the times of a sample that took took.
func (o *Output) finish(took time.Duration) {
	o.Seconds = took.Seconds()
	o.Text = strings.Join(o.Texts, "")
	if o.Seconds > 0 {
		o.TokensPerSec = float64(o.Tokens) / o.Seconds
	}
}

// sampleWindow samples a request that fits the window: one reverse process, plain or
// speculative, or the autoregressive model's left-to-right pass.
func (e *Engine) sampleWindow(g *guarded, r Request, onStep func(Step), start time.Time) (Output, error) {
	ids, trimmed, err := e.Input(r)
	if err != nil {
		return Output{}, err
	}
	given, holes := e.given(ids)
	opt := r.options()
	left := holes
	var origin []sample.Origin // speculative: how each position got its token, so far
	step := func(n int, cur []int32, committed []int) {
		left -= len(committed)
		p := e.Pieces(cur, given, committed)
		p.mark(origin)
		onStep(Step{Step: n, NFE: g.nfe, Rows: g.rows, Masked: left, Seconds: time.Since(start).Seconds(), Pieces: p})
	}
	if onStep != nil {
		opt.OnStep = step
	}
	var res sample.Result
	o := Output{Tokens: holes, Trimmed: trimmed, Chunks: 1}
	switch {
	case e.cfg.Causal:
		// Left to right, one call per token, stopping at the end of text.
		if r.Mode == "infill" {
			return Output{}, errors.New("infill needs a masked diffusion model; this one is autoregressive")
		}
		opt.StopAtEOT = true
		res, err = sample.Autoregressive(g, ids[:len(ids)-holes], holes, e.cfg.SeqLen, opt)
	case r.Draft != "":
		k := r.K
		if k == 0 {
			k = sample.DefaultK
		}
		origin = make([]sample.Origin, len(ids))
		spec := sample.SpecOptions{K: k} // Draft nil: the frozen draft
		if onStep != nil {
			spec.OnStep = func(n int, cur []int32, committed []int, how []sample.Origin) {
				for i, p := range committed {
					origin[p] = how[i]
				}
				step(n, cur, committed)
			}
		}
		var sr sample.SpecResult
		sr, err = sample.Speculative(g.batched(), ids, opt, spec)
		res, origin = sr.Result, sr.Origin
		o.TargetRows = sr.TargetRows
		for _, h := range sr.Origin {
			switch h {
			case sample.Accepted:
				o.Accepted++
			case sample.Corrected:
				o.Corrected++
			}
		}
	default:
		res, err = sample.Infill(g, ids, opt)
	}
	if err != nil {
		return Output{}, err
	}
	out := res.IDs
	if r.StopAtEOT || e.cfg.Causal {
		out = e.cutAtEOT(out, given)
	}
	o.IDs, o.NFE, o.Steps = out, res.NFE, res.Steps
	o.Pieces = e.Pieces(out, given[:len(out)], nil)
	o.Pieces.mark(origin)
	return o, nil
}

// given marks the positions of ids that are input, not MASK, and counts the others.
func (e *Engine) given(ids []int32) (given []bool, holes int) {
	given = make([]bool, len(ids))
	for i, t := range ids {
		given[i] = t != e.cfg.MaskID()
		if !given[i] {
			holes++
		}
	}
	return given, holes
}

// cutAtEOT cuts ids at the first EOT the model wrote: what follows it is a new, unrelated
// document.
func (e *Engine) cutAtEOT(ids []int32, given []bool) []int32 {
	for i, t := range ids {
		if t == e.cfg.EOTID() && !given[i] {
			return ids[:i]
		}
	}
	return ids
}

// sampleLong writes r.Length tokens after r.Prompt, past the model's window: in chunks of
// half the window for a masked model (sample.Long), with a sliding window for a causal one.
// The prompt keeps at most what the first chunk can see of it.
func (e *Engine) sampleLong(g *guarded, r Request, onStep func(Step), start time.Time) (Output, error) {
	L := e.cfg.SeqLen
	chunk := L / 2
	prompt := e.tok.Encode([]byte(r.Prompt))
	trimmed := max(0, len(prompt)-(L-chunk))
	prompt = prompt[trimmed:]
	opt := r.options()
	opt.GenLength, opt.StopAtEOT = r.Length, r.StopAtEOT
	given := make([]bool, len(prompt)+r.Length)
	for i := range prompt {
		given[i] = true
	}
	left := r.Length
	if onStep != nil {
		opt.OnStep = func(n int, text []int32, committed []int) {
			left -= len(committed)
			onStep(Step{Step: n, NFE: g.nfe, Masked: left, Seconds: time.Since(start).Seconds(),
				Pieces: e.Pieces(text, given[:len(text)], committed)})
		}
	}
	var res sample.Result
	var err error
	chunks := 1
	if e.cfg.Causal {
		opt.StopAtEOT = true
		res, err = sample.Autoregressive(g, prompt, r.Length, L, opt)
	} else {
		res, err = sample.Long(g, L, chunk, prompt, opt)
	}
	if err != nil {
		return Output{}, err
	}
	if n := len(res.Generated); !e.cfg.Causal {
		chunks = (n + chunk - 1) / chunk
		if n < r.Length { // stopped at an EOT inside the next chunk
			chunks = n/chunk + 1
		}
	}
	out := res.IDs
	if r.StopAtEOT {
		out = e.cutAtEOT(out, given)
	}
	return Output{IDs: out, Tokens: len(out) - len(prompt), NFE: res.NFE, Steps: res.Steps, Trimmed: trimmed,
		Chunks: chunks, Pieces: e.Pieces(out, given[:len(out)], nil)}, nil
}
