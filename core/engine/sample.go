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
}

// Step is the sequence after one denoising step.
type Step struct {
	Step    int     `json:"step"`    // steps taken so far, 1-based
	NFE     int     `json:"nfe"`     // network calls so far
	Masked  int     `json:"masked"`  // positions still masked
	Seconds float64 `json:"seconds"` // since sampling started
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
	Trimmed      int     `json:"trimmed"` // prompt tokens dropped from the left to fit the window
	Backend      string  `json:"backend"` // the backend that ran it
	Pieces
}

// Input turns a request into the token sequence to fill (MASK where the model writes) and
// the number of prompt tokens dropped to fit the model's window.
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

// Sample runs one request, calling onStep (if not nil) after every step that committed
// tokens. A causal (autoregressive) model writes left to right, one token per step, and
// ignores the masked samplers' settings (steps, strategy, grid, block). It returns ErrCanceled when ctx is canceled, checked before each network call.
func (e *Engine) Sample(ctx context.Context, r Request, onStep func(Step)) (Output, error) {
	ids, trimmed, err := e.Input(r)
	if err != nil {
		return Output{}, err
	}
	mask := e.cfg.MaskID()
	given := make([]bool, len(ids))
	holes := 0
	for i, t := range ids {
		given[i] = t != mask
		if !given[i] {
			holes++
		}
	}
	d, backend, err := e.denoiser(r.Backend)
	if err != nil {
		return Output{}, err
	}
	g := &guarded{ctx: ctx, d: d}
	opt := r.options()
	start := time.Now()
	left := holes
	if onStep != nil {
		opt.OnStep = func(step int, cur []int32, committed []int) {
			left -= len(committed)
			onStep(Step{Step: step, NFE: g.nfe, Masked: left, Seconds: time.Since(start).Seconds(),
				Pieces: e.Pieces(cur, given, committed)})
		}
	}
	var res sample.Result
	if e.cfg.Causal {
		// Left to right, one call per token, stopping at the end of text.
		if r.Mode == "infill" {
			return Output{}, errors.New("infill needs a masked diffusion model; this one is autoregressive")
		}
		opt.StopAtEOT = true
		res, err = sample.Autoregressive(g, ids[:len(ids)-holes], holes, e.cfg.SeqLen, opt)
	} else {
		res, err = sample.Infill(g, ids, opt)
	}
	secs := time.Since(start).Seconds()
	if err != nil {
		if errors.Is(err, ErrCanceled) || ctx.Err() != nil {
			return Output{}, ErrCanceled
		}
		return Output{}, err
	}
	out := res.IDs
	// Cut at the first EOT the model wrote: what follows it is a new, unrelated document.
	for i, t := range out {
		if t == e.cfg.EOTID() && !given[i] {
			out = out[:i]
			break
		}
	}
	pieces := e.Pieces(out, given[:len(out)], nil)
	o := Output{
		Text: strings.Join(pieces.Texts, ""), IDs: out, Tokens: holes, NFE: res.NFE, Steps: res.Steps,
		Seconds: secs, Trimmed: trimmed, Backend: backend,
		Pieces: pieces,
	}
	if secs > 0 {
		o.TokensPerSec = float64(holes) / secs
	}
	return o, nil
}
