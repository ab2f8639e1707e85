// Command sample writes text with a released model: the masked diffusion model by default
// (the reverse process of core/sample), the autoregressive baseline left to right when
// the model file is causal, or a continuous diffusion model (core/continuous: Gaussian
// noise on latents, denoised and decoded) when the file is one.
//
//	go run ./core/cmd/sample                                  # 64 tokens from weights/austen-mdm.q8_0.ckpt
//	go run ./core/cmd/sample -prompt "It is a truth" -n 48 -steps 24
//	go run ./core/cmd/sample -n 400                           # past the 128-token window, in chunks
//	go run ./core/cmd/sample -infill "Mr. Darcy ___ Elizabeth ___ ball." -blank-len 6
//	go run ./core/cmd/sample -json -strategy threshold        # last line: one JSON object
//	go run ./core/cmd/sample -model weights/austen-ar.q8_0.ckpt # the AR baseline
//	go run ./core/cmd/sample -model weights/austen-tencdm.q8_0.ckpt # continuous diffusion (TEncDM)
//	go run ./core/cmd/sample -draft frozen -k 4 -json           # speculative: same distribution, fewer target calls
//	go run ./core/cmd/sample -draft weights/austen-mdm-draft.q8_0.ckpt -k 4
//
// With -draft (frozen, self[:N] or a draft model file) the sampler is speculative
// (core/sample.Speculative): the draft proposes -k steps, the target checks them in one
// batched call; the text has the plain sampler's distribution (the same text at
// temperature 0) and the live view colours drafted tokens the target accepted (green) apart
// from those it corrected (red).
//
// On a terminal the text resolves live, step by step (masked positions shown as ░);
// -visual=false or a pipe gives plain text. Errors are one line, "sample: <reason>", with
// exit status 1.
//
// The sampler's defaults (semi-autoregressive blocks of 8, temperature 0.8, top-p 0.9, one
// step per token on the cosine grid) are sample.Defaults, which the page starts from too;
// its comment says why. Infill text is written as core/infill reads it, as on the page.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/infill"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// DefaultModel is the release file sampled when -model is not given.
const DefaultModel = "weights/austen-mdm.q8_0.ckpt"

func main() { cli.Main("sample", run) }

// flags is the parsed command line.
type flags struct {
	model, prompt, infill, strategy, grid, confidence, draft string
	solver                                                   string
	n, steps, block, blankLen, topK, threads, chunk, k       int
	temperature, threshold, cfg, topP                        float64
	seed                                                     uint64
	visual, asJSON, stopEOT                                  bool
	delay                                                    time.Duration
	selfCond                                                 bool
	set                                                      map[string]bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{set: map[string]bool{}}
	fl := flag.NewFlagSet("sample", flag.ContinueOnError)
	fl.StringVar(&f.model, "model", DefaultModel, "model `file` (checkpoint or release; a causal one samples left to right)")
	fl.StringVar(&f.prompt, "prompt", "", "text to continue")
	fl.StringVar(&f.infill, "infill", "", "text with blanks written "+infill.Spellings+"; each blank becomes -blank-len masked tokens to fill (one space before a blank goes to the fill)")
	fl.IntVar(&f.blankLen, "blank-len", infill.DefaultTokens, "tokens per blank in -infill (a token is about 4 characters)")
	fl.IntVar(&f.n, "n", 64, "tokens to generate after the prompt; past the model's window the text is written in chunks of -chunk tokens, each reading the latest text that fits beside it (network calls grow linearly with n)")
	fl.IntVar(&f.chunk, "chunk", 0, "tokens per chunk when prompt + n exceeds the model's window (0: half the window)")
	fl.IntVar(&f.steps, "steps", 0, "denoising steps (0: one per generated token; with -strategy threshold, a maximum)")
	def := sample.Defaults()
	fl.StringVar(&f.strategy, "strategy", def.Strategy, "which masked positions a step commits: "+sample.Names(sample.Strategies))
	fl.StringVar(&f.grid, "grid", def.Grid, "how many tokens each step commits: "+sample.Names(sample.Grids))
	fl.StringVar(&f.confidence, "confidence", def.Confidence, "confidence score: "+sample.Names(sample.Confidences))
	fl.Float64Var(&f.temperature, "temperature", def.Temperature, "sampling temperature (0: greedy, the same text for every seed)")
	fl.IntVar(&f.topK, "topk", def.TopK, "keep the k most likely tokens at each position (0: all)")
	fl.Float64Var(&f.topP, "topp", def.TopP, "keep the smallest set of tokens holding this probability (0 or 1: all)")
	fl.IntVar(&f.block, "block", 0, fmt.Sprintf("block length in tokens, left to right (%s: %d when not given; other strategies: 0, one block)", sample.StrategySemiAR, sample.DefaultBlock(sample.StrategySemiAR)))
	fl.Float64Var(&f.threshold, "threshold", def.Threshold, fmt.Sprintf("confidence threshold of -strategy %s (with -confidence %s: minus nats, e.g. -0.5)", sample.StrategyThreshold, sample.ConfidenceEntropy))
	fl.Float64Var(&f.cfg, "cfg", 0, "classifier-free guidance scale (0: off; needs a prompt or infill text)")
	fl.Uint64Var(&f.seed, "seed", 0, "random seed (0: from the clock; the seed used is reported)")
	fl.BoolVar(&f.stopEOT, "stop-eot", true, "end the text at the first generated end-of-text token")
	fl.BoolVar(&f.visual, "visual", true, "live view on a terminal: masked positions resolve step by step (off when stdout is not a terminal, and with -json unless given)")
	fl.BoolVar(&f.selfCond, "selfcond", true, "continuous models with self-conditioning: feed each step the last estimate (false: zeros, the chain -draft frozen reproduces exactly)")
	fl.DurationVar(&f.delay, "visual-delay", 40*time.Millisecond, "pause after each frame of the live view (not counted in the timing)")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object (text, tokens, nfe, steps, seconds, settings) as the last line")
	fl.IntVar(&f.threads, "threads", 0, "BLAS threads (0: all cores)")
	fl.StringVar(&f.draft, "draft", "", "speculative sampling with this draft: frozen (the target's latest output), self or self:N (the target's first N blocks, default 2), or a draft model `file`")
	fl.IntVar(&f.k, "k", sample.DefaultK, "speculative: drafted steps per target call (with -draft)")
	fl.StringVar(&f.solver, "solver", "sde", "continuous models: the reverse step, sde (the reverse SDE, stochastic) or ode (the probability-flow ODE, deterministic given the seed's starting noise)")
	// The flag package's own messages span several lines; report one line instead and print
	// the usage only for -h.
	if err := cli.ParseFlags(fl, args, stderr, "usage: sample [flags]\n\nSamples text from a masked diffusion model (or an autoregressive one).\n\n"); err != nil {
		return nil, err
	}
	fl.Visit(func(x *flag.Flag) { f.set[x.Name] = true })
	switch {
	case f.n <= 0:
		return nil, fmt.Errorf("-n %d: want at least 1 token", f.n)
	case f.chunk < 0:
		return nil, fmt.Errorf("-chunk %d: want >= 0 (0: half the window)", f.chunk)
	case f.steps < 0:
		return nil, fmt.Errorf("-steps %d: want >= 0", f.steps)
	case f.block < 0:
		return nil, fmt.Errorf("-block %d: want >= 0", f.block)
	case f.blankLen <= 0:
		return nil, fmt.Errorf("-blank-len %d: want at least 1", f.blankLen)
	case f.k < 1:
		return nil, fmt.Errorf("-k %d: want at least 1 drafted step", f.k)
	case f.draft != "" && f.cfg != 0:
		return nil, errors.New("-draft and -cfg do not go together (speculative sampling does not support guidance)")
	case f.infill != "" && f.set["prompt"]:
		return nil, errors.New("-infill and -prompt do not go together (write the prompt into the -infill text)")
	}
	for _, c := range []struct {
		flag, value string
		choices     []sample.Choice
	}{{"-strategy", f.strategy, sample.Strategies}, {"-grid", f.grid, sample.Grids}, {"-confidence", f.confidence, sample.Confidences}} {
		if err := sample.Check(c.flag, c.value, c.choices); err != nil {
			return nil, err
		}
	}
	if !f.set["block"] {
		f.block = sample.DefaultBlock(f.strategy)
	}
	if f.strategy != sample.StrategyThreshold && !f.set["threshold"] {
		f.threshold = 0
	}
	if f.seed == 0 {
		f.seed = rand.Uint64()>>11 | 1 // a JSON-safe (53-bit) nonzero seed
	}
	return f, nil
}

// output is the -json object.
type output struct {
	Text        string   `json:"text"`            // the whole text: prompt (or infill text) with the sampled tokens
	Generated   string   `json:"generated"`       // the sampled tokens alone, decoded
	Fills       []string `json:"fills,omitempty"` // infill: what each blank became
	Tokens      int      `json:"tokens"`          // number of sampled tokens
	IDs         []int32  `json:"ids"`             // the whole sequence's token ids
	NFE         int      `json:"nfe"`             // network calls
	NFEPerToken float64  `json:"nfe_per_token"`
	Steps       int      `json:"steps"` // steps that committed tokens
	Seconds     float64  `json:"seconds"`
	Sampler     string   `json:"sampler"` // masked-diffusion, autoregressive or continuous-diffusion
	Solver      string   `json:"solver,omitempty"`
	Strategy    string   `json:"strategy,omitempty"`
	Grid        string   `json:"grid,omitempty"`
	Confidence  string   `json:"confidence,omitempty"`
	StepsAsked  int      `json:"steps_requested"`
	Block       int      `json:"block,omitempty"`
	Threshold   float64  `json:"threshold,omitempty"`
	CFG         float64  `json:"cfg,omitempty"`
	Temperature float64  `json:"temperature"`
	TopK        int      `json:"topk,omitempty"`
	TopP        float64  `json:"topp,omitempty"`
	Seed        uint64   `json:"seed"`
	Prompt      string   `json:"prompt,omitempty"`
	Infill      string   `json:"infill,omitempty"`
	Model       string   `json:"model"`
	BLAS        string   `json:"blas"`

	// Speculative sampling (-draft): the target's and the draft's sequential calls and the
	// sequences they evaluated, and how much of the draft stood.
	Draft               string  `json:"draft,omitempty"`
	K                   int     `json:"k,omitempty"`
	TargetCalls         int     `json:"target_calls,omitempty"`
	TargetRows          int     `json:"target_rows,omitempty"`
	DraftCalls          *int    `json:"draft_calls,omitempty"`
	DraftRows           *int    `json:"draft_rows,omitempty"`
	DraftedSteps        *int    `json:"drafted_steps,omitempty"`
	AcceptPerToken      float64 `json:"acceptance_per_token,omitempty"` // accepted / checked drafted tokens
	AcceptPerStep       float64 `json:"acceptance_per_step,omitempty"`  // steps that stood / checked drafted steps
	TargetCallsPerToken float64 `json:"target_calls_per_token,omitempty"`
	// Continuous models: whether the speculative chain is exactly the plain sampler's (it
	// is not with a self-conditioning input; see core/continuous/speculative.go).
	Exact *bool `json:"exact,omitempty"`
}

func run(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := blas.Init(f.threads); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "blas: %s\n", blas.Name())

	loaded, err := cli.Load(f.model)
	if err != nil {
		return err
	}
	if loaded.Continuous != nil {
		return runContinuous(f, stdout, stderr, loaded)
	}
	m, tok, raw := loaded.Model, loaded.Tok, loaded.TokJSON
	for _, name := range []string{"solver", "selfcond"} {
		if f.set[name] {
			return fmt.Errorf("-%s is for continuous diffusion models; %s is a token model", name, f.model)
		}
	}
	if f.draft != "" && m.Cfg.Causal {
		return fmt.Errorf("-draft needs a masked diffusion model; %s is autoregressive (causal)", f.model)
	}
	L := m.Cfg.SeqLen
	mask := tok.Mask()

	// The input: [prompt, MASK x n], or the infill text with its blanks masked.
	var ids []int32
	var blanks [][2]int // infill: [start, end) of each blank
	var prompt []int32
	if f.infill != "" {
		if m.Cfg.Causal {
			return fmt.Errorf("-infill needs a masked diffusion model; %s is autoregressive (causal)", f.model)
		}
		if ids, blanks, err = infill.Encode(tok, f.infill, f.blankLen, L); err != nil {
			return fmt.Errorf("-infill: %s (model %s)", strings.TrimPrefix(err.Error(), "infill: "), f.model)
		}
	} else {
		prompt = tok.Encode([]byte(f.prompt))
		if f.chunk >= L {
			return fmt.Errorf("-chunk %d: want fewer than the %d positions of %s", f.chunk, L, f.model)
		}
		ids = append(append([]int32(nil), prompt...), repeat(mask, f.n)...)
	}

	opt := sample.Options{
		Steps: f.steps, GenLength: f.n, Grid: f.grid, Strategy: f.strategy, Confidence: f.confidence,
		Temperature: f.temperature, TopK: f.topK, TopP: f.topP, BlockLength: f.block, Threshold: f.threshold,
		CFGScale: f.cfg, StopAtEOT: f.stopEOT && f.infill == "", Seed: f.seed,
		MaskID: mask, EOTID: tok.EOT(),
	}
	visual := f.visual && isTerminal(stdout) && (!f.asJSON || f.set["visual"])
	var view *liveView
	if visual {
		view = newLiveView(stdout, tok, ids, f.delay)
		opt.OnStep = view.frame
	}

	if f.draft != "" {
		if len(ids) > L {
			return fmt.Errorf("-draft samples within the model's window: prompt of %d tokens + -n %d is more than the %d positions of %s",
				len(prompt), f.n, L, f.model)
		}
		return runSpeculative(f, stdout, stderr, m, tok, raw, ids, blanks, opt, view)
	}

	start := time.Now()
	var r sample.Result
	if m.Cfg.Causal {
		r, err = sample.Autoregressive(m, prompt, f.n, L, opt)
	} else if f.infill != "" {
		r, err = sample.Infill(m, ids, opt)
	} else {
		r, err = sample.Long(m, L, f.chunk, prompt, opt)
	}
	secs := time.Since(start).Seconds()
	if view != nil {
		secs -= view.slept.Seconds()
	}
	if err != nil {
		return err
	}

	out := f.output(tok, r, blanks, secs)
	if m.Cfg.Causal {
		out.Sampler = "autoregressive"
		out.Strategy, out.Grid, out.Confidence, out.Block, out.Threshold, out.CFG = "", "", "", 0, 0, 0
	}
	return f.finish(stdout, stderr, view, r.IDs, out)
}

// output fills the -json object of a masked-diffusion result.
func (f *flags) output(tok *tokenizer.Tokenizer, r sample.Result, blanks [][2]int, secs float64) output {
	out := output{
		Text: string(tok.Decode(r.IDs)), Generated: string(tok.Decode(r.Generated)),
		Tokens: len(r.Generated), IDs: r.IDs, NFE: r.NFE, Steps: r.Steps, Seconds: secs,
		StepsAsked: f.steps, Temperature: f.temperature, TopK: f.topK, TopP: f.topP, Seed: f.seed,
		Prompt: f.prompt, Infill: f.infill, Model: f.model, BLAS: blas.Name(),
		Sampler: "masked-diffusion", Strategy: f.strategy, Grid: f.grid, Confidence: f.confidence,
		Block: f.block, Threshold: f.threshold, CFG: f.cfg,
	}
	if len(r.Generated) > 0 {
		out.NFEPerToken = float64(r.NFE) / float64(len(r.Generated))
	}
	for _, b := range blanks {
		out.Fills = append(out.Fills, string(tok.Decode(r.IDs[b[0]:b[1]])))
	}
	return out
}

// finish ends the live view and prints the text or the -json line, and the summary.
func (f *flags) finish(stdout, stderr io.Writer, view *liveView, ids []int32, out output) error {
	if view != nil {
		view.finish(ids)
	}
	if f.asJSON {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	if view == nil {
		if _, err := fmt.Fprintln(stdout, out.Text); err != nil {
			return err
		}
	}
	if out.Draft != "" {
		acc := fmt.Sprintf("acceptance %.2f per token, %.2f per step", out.AcceptPerToken, out.AcceptPerStep)
		if out.Exact != nil { // continuous: a step is accepted or corrected whole
			acc = fmt.Sprintf("acceptance %.2f per step, exact %v", out.AcceptPerStep, *out.Exact)
		}
		fmt.Fprintf(stderr, "%d tokens, %d target calls (%d steps; draft %s, %d draft calls), %s, %.2f s (seed %d)\n",
			out.Tokens, out.TargetCalls, out.Steps, out.Draft, *out.DraftCalls, acc, out.Seconds, f.seed)
		return nil
	}
	fmt.Fprintf(stderr, "%d tokens, %d network calls, %d steps, %.2f s (seed %d)\n", out.Tokens, out.NFE, out.Steps, out.Seconds, f.seed)
	return nil
}

// runSpeculative samples ids with the draft of -draft and prints like run.
func runSpeculative(f *flags, stdout, stderr io.Writer, m *model.Model, tok *tokenizer.Tokenizer, raw []byte,
	ids []int32, blanks [][2]int, opt sample.Options, view *liveView) error {
	d, name, err := cli.LoadDraft(f.draft, m, raw)
	if err != nil {
		return err
	}
	spec := sample.SpecOptions{K: f.k}
	if d != nil {
		spec.Draft = d // a nil *model.Model must stay a nil interface: that is the frozen draft
	}
	if view != nil {
		spec.OnStep = view.specFrame
	}
	start := time.Now()
	r, err := sample.Speculative(m, ids, opt, spec)
	secs := time.Since(start).Seconds()
	if view != nil {
		secs -= view.slept.Seconds()
	}
	if err != nil {
		return err
	}
	out := f.output(tok, r.Result, blanks, secs)
	out.Draft, out.K = name, f.k
	out.TargetCalls, out.TargetRows = r.TargetCalls, r.TargetRows
	out.DraftCalls, out.DraftRows, out.DraftedSteps = &r.DraftCalls, &r.DraftRows, &r.DraftedSteps
	if r.CheckedTokens > 0 {
		out.AcceptPerToken = float64(r.AcceptedTokens) / float64(r.CheckedTokens)
	}
	if r.CheckedSteps > 0 {
		out.AcceptPerStep = float64(r.AcceptedSteps) / float64(r.CheckedSteps)
	}
	if len(r.Generated) > 0 {
		out.TargetCallsPerToken = float64(r.TargetCalls) / float64(len(r.Generated))
	}
	return f.finish(stdout, stderr, view, r.IDs, out)
}

func repeat(t int32, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = t
	}
	return out
}

// isTerminal reports whether w is a terminal (a live view needs one).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
