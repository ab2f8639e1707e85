// Command quality measures generated text per sampler setting: for N unconditional samples
// of n tokens per strategy x grid x step count it reports the AR judge's perplexity, the
// same judge's perplexity on real Persuasion text (the reference row), distinct-1/2/3, the
// share of 8-grams copied from the training books, network calls per token and seconds per
// sample. It writes a Markdown table and a plot of judge perplexity against NFE.
//
//	go run ./core/cmd/quality                       # release models, 16 samples per setting
//	go run ./core/cmd/quality -samples 4 -steps 16,64 -strategies low-confidence,threshold
//	go run ./core/cmd/quality -continuous weights/austen-tencdm.q8_0.ckpt -continuous-steps 25,50 # continuous rows too
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quality"
	"github.com/austen-diffusion/textdiffusion/core/sample"
)

func main() { cli.Main("quality", run) }

type flags struct {
	model, judge, strategies, grids, steps, confidence string
	outMD, outPNG, outSamples, trainFiles, valFiles    string
	continuous, contSteps, solvers                     string
	samples, n, block, refWindows, batch, topK         int
	threads                                            int
	temperature, topP                                  float64
	thresholds                                         string
	seed                                               uint64
	ar, asJSON, noProgress, noMemo                     bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fl := flag.NewFlagSet("quality", flag.ContinueOnError)
	fl.StringVar(&f.model, "model", "weights/austen-mdm.q8_0.ckpt", "masked diffusion model `file` to sample from (empty: no masked rows, for a table of -continuous rows)")
	fl.StringVar(&f.continuous, "continuous", "", "comma-separated continuous diffusion model `files` whose rows join the table (for example weights/austen-tencdm.q8_0.ckpt)")
	fl.StringVar(&f.contSteps, "continuous-steps", "50", "comma-separated denoiser step counts of the continuous rows")
	fl.StringVar(&f.solvers, "solvers", "sde", "comma-separated reverse-step rules of the continuous rows: sde, ode")
	fl.StringVar(&f.judge, "judge", "weights/austen-ar.q8_0.ckpt", "autoregressive judge `file` (same tokenizer)")
	fl.IntVar(&f.samples, "samples", 16, "samples per setting")
	fl.IntVar(&f.n, "n", 64, "tokens per sample (past the model's window: written chunk by chunk, and the judge reads them window by window)")
	fl.StringVar(&f.strategies, "strategies", sample.NameList(sample.Strategies), "comma-separated remasking strategies: "+sample.Names(sample.Strategies))
	fl.StringVar(&f.grids, "grids", sample.NameList(sample.Grids), "comma-separated grids: "+sample.Names(sample.Grids))
	fl.StringVar(&f.steps, "steps", "16,32,64", "comma-separated step counts (a maximum for threshold)")
	fl.Float64Var(&f.temperature, "temperature", 1, "sampling temperature of every setting (1: the model's own distribution)")
	fl.StringVar(&f.confidence, "confidence", sample.Defaults().Confidence, "confidence score: "+sample.Names(sample.Confidences))
	fl.IntVar(&f.block, "block", 16, "block length of "+sample.StrategySemiAR)
	fl.StringVar(&f.thresholds, "threshold", strconv.FormatFloat(sample.Defaults().Threshold, 'g', -1, 64), "comma-separated confidence thresholds of the "+sample.StrategyThreshold+" strategy (one line each)")
	fl.IntVar(&f.topK, "topk", 0, "top-k cut (0: off)")
	fl.Float64Var(&f.topP, "topp", 0, "top-p cut (0: off)")
	fl.BoolVar(&f.ar, "ar", true, "add a row of the judge's own left-to-right samples (same temperature)")
	fl.IntVar(&f.refWindows, "ref-windows", 256, "real Persuasion windows of n tokens in the reference row (spread over the book; 0: all)")
	fl.IntVar(&f.batch, "batch", 16, "sequences per judge forward pass")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the first sample (sample i uses seed+i, the same in every setting)")
	fl.StringVar(&f.outMD, "out-md", "build/out/quality.md", "Markdown table `file` (empty: none)")
	fl.StringVar(&f.outPNG, "out-png", "build/out/quality.png", "plot `file` (empty: none)")
	fl.StringVar(&f.outSamples, "out-samples", "build/out/quality-samples.txt", "`file` for the first two samples of every setting, as text (empty: none)")
	fl.StringVar(&f.trainFiles, "train", "", "comma-separated training text files for memorisation (default: the five Austen training books)")
	fl.StringVar(&f.valFiles, "val", "", "comma-separated real text files for the reference row (default: Persuasion)")
	fl.BoolVar(&f.noMemo, "no-memorisation", false, "skip the memorisation column (saves tokenizing the training books)")
	fl.BoolVar(&f.asJSON, "json", false, "print the rows as one JSON object on the last line instead of the table")
	fl.BoolVar(&f.noProgress, "no-progress", false, "plain lines instead of a progress bar")
	fl.IntVar(&f.threads, "threads", 0, "BLAS threads (0: all cores)")
	if err := cli.ParseFlags(fl, args, stderr, "usage: quality [flags]\n\nMeasures generation quality per sampler setting against an AR judge.\n\n"); err != nil {
		return nil, err
	}
	switch {
	case f.samples <= 0:
		return nil, fmt.Errorf("-samples %d: want at least 1", f.samples)
	case f.n <= 0:
		return nil, fmt.Errorf("-n %d: want at least 1", f.n)
	case f.refWindows < 0:
		return nil, fmt.Errorf("-ref-windows %d: want >= 0", f.refWindows)
	case f.batch <= 0:
		return nil, fmt.Errorf("-batch %d: want at least 1", f.batch)
	}
	if err := sample.Check("-confidence", f.confidence, sample.Confidences); err != nil {
		return nil, err
	}
	return f, nil
}

// settings expands the lists into strategy x grid x steps.
func (f *flags) settings() ([]quality.Setting, error) {
	steps, err := stepCounts("-steps", f.steps)
	if err != nil {
		return nil, err
	}
	var taus []float64
	for _, s := range cli.SplitList(f.thresholds) {
		x, err := strconv.ParseFloat(s, 64)
		switch {
		case err != nil:
			return nil, fmt.Errorf("-threshold: %q is not a number", s)
		case f.confidence == sample.ConfidenceEntropy && !(x < 0):
			return nil, fmt.Errorf("-threshold: %q: entropy confidences are <= 0 (minus nats), so the threshold must be negative", s)
		case f.confidence != sample.ConfidenceEntropy && !(x > 0 && x <= 1):
			return nil, fmt.Errorf("-threshold: %q is not a threshold in (0, 1]", s)
		}
		taus = append(taus, x)
	}
	if len(taus) == 0 {
		taus = []float64{sample.Defaults().Threshold}
	}
	strategies, grids := cli.SplitList(f.strategies), cli.SplitList(f.grids)
	if len(steps) == 0 || len(strategies) == 0 || len(grids) == 0 {
		return nil, errors.New("-strategies, -grids and -steps each need at least one value")
	}
	var out []quality.Setting
	if f.model == "" {
		strategies = nil
	}
	for _, st := range strategies {
		params := []float64{0} // one line per threshold for "threshold", one line otherwise
		if err := sample.Check("-strategies: strategy", st, sample.Strategies); err != nil {
			return nil, err
		}
		if st == sample.StrategyThreshold {
			params = taus
		}
		for _, tau := range params {
			for _, g := range grids {
				if err := sample.Check("-grids: grid", g, sample.Grids); err != nil {
					return nil, err
				}
				for _, k := range steps {
					opt := sample.Options{Steps: k, Grid: g, Strategy: st, Confidence: f.confidence,
						Temperature: f.temperature, TopK: f.topK, TopP: f.topP, Threshold: tau}
					if st == sample.StrategySemiAR {
						opt.BlockLength = f.block
					}
					out = append(out, quality.Setting{Strategy: st, Grid: g, Options: opt})
				}
			}
		}
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	settings, err := f.settings()
	if err != nil {
		return err
	}
	if err := blas.Init(f.threads); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "blas: %s\n", blas.Name())

	judge, judgeTok, judgeRaw, err := cli.LoadModel(f.judge)
	if err != nil {
		return err
	}
	if !judge.Cfg.Causal {
		return fmt.Errorf("%s is not autoregressive (causal); the judge must be", f.judge)
	}
	tok, eot := judgeTok, judgeTok.EOT()
	var m *model.Model
	if f.model != "" {
		var tokRaw []byte
		if m, _, tokRaw, err = cli.LoadModel(f.model); err != nil {
			return err
		}
		switch {
		case m.Cfg.Causal:
			return fmt.Errorf("%s is autoregressive; -model wants a masked diffusion model (the AR row comes from -judge)", f.model)
		case !bytes.Equal(tokRaw, judgeRaw):
			return fmt.Errorf("%s and %s hold different tokenizers; the judge must read the model's tokens", f.model, f.judge)
		}
	}
	for i := range settings {
		settings[i].Options.MaskID, settings[i].Options.EOTID = tok.Mask(), eot
		settings[i].Window = m.Cfg.SeqLen // longer samples: chunk by chunk
	}
	conts, err := f.continuousSettings(judgeRaw, tok.Mask())
	if err != nil {
		return err
	}
	contModel := map[int]*continuous.Model{} // setting index -> its continuous model
	for _, c := range conts {
		contModel[len(settings)] = c.model
		settings = append(settings, c.Setting)
	}
	if len(settings) == 0 {
		return errors.New("no rows: give -model, -continuous or -ar")
	}
	if f.ar {
		settings = append(settings, quality.Setting{Strategy: quality.LeftToRight, Options: sample.Options{
			Temperature: f.temperature, TopK: f.topK, TopP: f.topP, MaskID: tok.Mask(), EOTID: eot},
			Window: judge.Cfg.SeqLen})
	}

	// Memorisation: every 8-gram of the training books. Reference: Persuasion windows.
	var mem *sample.NGramSet
	if !f.noMemo {
		s, _, err := cli.Stream(tok, f.trainFiles, "train")
		if err != nil {
			return err
		}
		mem = sample.NewNGramSet(s.Tokens, 8)
	}
	val, _, err := cli.Stream(tok, f.valFiles, "val")
	if err != nil {
		return err
	}
	windows := spread(val.Windows(f.n), f.refWindows)
	if len(windows) == 0 {
		return fmt.Errorf("the reference text has fewer than -n %d tokens", f.n)
	}

	pr := newProgress(stderr, len(settings)*f.samples, f.noProgress)
	ref, err := quality.Reference(judge, mem, windows, eot, f.samples, f.batch)
	if err != nil {
		return err
	}
	pr.log(fmt.Sprintf("%-28s judge PPL %7.1f over %d windows of %d tokens", ref.Name, ref.JudgePPL, len(windows), f.n))
	rows := []quality.Row{ref}
	var sampleText strings.Builder
	for i, s := range settings {
		cpu0 := cli.CPUSeconds()
		var smp quality.Samples
		if s.Strategy == quality.Continuous {
			smp, err = quality.GenerateContinuous(contModel[i], s, f.n, f.samples, f.seed, pr.inc)
		} else {
			var d sample.Denoiser = judge
			if s.Strategy != quality.LeftToRight {
				d = m
			}
			smp, err = quality.Generate(d, s, f.n, f.samples, f.seed, pr.inc)
		}
		if err != nil {
			return err
		}
		cpu := cli.CPUSeconds() - cpu0
		r, err := quality.Score(judge, mem, s, smp, eot, f.batch)
		if err != nil {
			return err
		}
		r.CPUSecondsPerSample = cpu / float64(f.samples)
		rows = append(rows, r)
		pr.log(fmt.Sprintf("%-28s judge PPL %7.1f  NFE/token %.3f  %.3f s/sample (CPU %.3f s)", r.Name, r.JudgePPL, r.NFEPerToken, r.SecondsPerSample, r.CPUSecondsPerSample))
		fmt.Fprintf(&sampleText, "== %s\n", r.Name)
		for _, x := range smp.Tokens[:min(2, len(smp.Tokens))] {
			fmt.Fprintf(&sampleText, "%s\n--\n", tok.Decode(x))
		}
	}
	pr.done()

	title := "Generation quality"
	note := []string{
		fmt.Sprintf("%d unconditional samples of %d tokens per setting (seeds %d..%d, the same in every setting), temperature %g%s, confidence %s.",
			f.samples, f.n, f.seed, f.seed+uint64(f.samples)-1, f.temperature, cuts(f.topK, f.topP), f.confidence),
		fmt.Sprintf("%s; judge `%s` (AR; each sequence read after EOT). Reference: the judge on %d real Persuasion windows of %d tokens (distinct-n averaged over groups of %d windows).",
			f.modelsNote(), f.judge, len(windows), f.n, f.samples),
		"Judge PPL is token-weighted over all samples; ± is one standard error (samples as units). Memorised: share of 8-grams found in the five training books. Setting = strategy(threshold or block)/grid/steps (steps is a maximum for threshold).",
		fmt.Sprintf("Seconds per sample on this machine: BLAS %s, GOMAXPROCS %d; wall time, and the process's CPU time (steadier when the machine is shared).", blas.Name(), runtime.GOMAXPROCS(0)),
	}
	if f.outMD != "" {
		var b bytes.Buffer
		if err := quality.WriteMarkdown(&b, title, note, rows); err != nil {
			return err
		}
		if err := writeFile(f.outMD, b.Bytes()); err != nil {
			return err
		}
	}
	if f.outPNG != "" {
		var b bytes.Buffer
		if err := quality.WritePNG(&b, fmt.Sprintf("Judge perplexity vs network calls (%d samples of %d tokens, T=%g)", f.samples, f.n, f.temperature), rows); err != nil {
			return err
		}
		if err := writeFile(f.outPNG, b.Bytes()); err != nil {
			return err
		}
	}
	if f.outSamples != "" {
		if err := writeFile(f.outSamples, []byte(sampleText.String())); err != nil {
			return err
		}
	}
	if f.asJSON {
		b, err := json.Marshal(map[string]any{"rows": rows, "samples": f.samples, "n": f.n, "temperature": f.temperature,
			"model": f.model, "judge": f.judge, "blas": blas.Name()})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return quality.WriteMarkdown(stdout, title, note, rows)
}

// stepCounts parses a comma-separated list of positive step counts given as flag name.
func stepCounts(name, list string) ([]int, error) {
	var steps []int
	for _, s := range cli.SplitList(list) {
		k, err := strconv.Atoi(s)
		if err != nil || k <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive step count", name, s)
		}
		steps = append(steps, k)
	}
	return steps, nil
}

// rowName is a model file's name in the table: its base name, or for a run's model.ckpt
// the run's folder (the ablations' files are all model.ckpt).
func rowName(path string) string {
	if filepath.Base(path) == "model.ckpt" {
		return filepath.Base(filepath.Dir(path))
	}
	return filepath.Base(path)
}

// modelsNote names the sampled models for the table's note.
func (f *flags) modelsNote() string {
	var parts []string
	if f.model != "" {
		parts = append(parts, fmt.Sprintf("Masked model `%s`", f.model))
	}
	if f.continuous != "" {
		parts = append(parts, fmt.Sprintf("continuous models `%s` (rows continuous/solver/denoiser steps; NFE counts denoiser calls, the decoder's one call per sample aside)", strings.Join(cli.SplitList(f.continuous), "`, `")))
	}
	return strings.Join(parts, "; ")
}

// contSetting is a continuous row's setting and its model.
type contSetting struct {
	quality.Setting
	model *continuous.Model
}

// continuousSettings loads the -continuous files (each with the judge's tokenizer) and
// expands them into one row per file x solver x step count.
func (f *flags) continuousSettings(judgeTok []byte, mask int32) ([]contSetting, error) {
	var out []contSetting
	steps, err := stepCounts("-continuous-steps", f.contSteps)
	if err != nil {
		return nil, err
	}
	for _, path := range cli.SplitList(f.continuous) {
		l, err := cli.Load(path)
		if err != nil {
			return nil, err
		}
		if l.Continuous == nil {
			return nil, fmt.Errorf("-continuous: %s is not a continuous diffusion model", path)
		}
		if !bytes.Equal(l.TokJSON, judgeTok) {
			return nil, fmt.Errorf("%s and %s hold different tokenizers; the judge must read the model's tokens", path, f.judge)
		}
		if f.n > l.Continuous.Denoiser.Cfg.SeqLen {
			return nil, fmt.Errorf("-n %d: %s writes within its window of %d tokens", f.n, path, l.Continuous.Denoiser.Cfg.SeqLen)
		}
		for _, solver := range cli.SplitList(f.solvers) {
			if solver != "sde" && solver != "ode" {
				return nil, fmt.Errorf("-solvers: %q: want sde or ode", solver)
			}
			for _, k := range steps {
				out = append(out, contSetting{quality.Setting{Strategy: quality.Continuous, Grid: solver, Model: rowName(path),
					Options: sample.Options{Steps: k, MaskID: mask}}, l.Continuous})
			}
		}
	}
	return out, nil
}

// cuts describes the top-k / top-p cuts for the table's note.
func cuts(k int, p float64) string {
	s := ""
	if k > 0 {
		s += fmt.Sprintf(", top-k %d", k)
	}
	if p > 0 && p < 1 {
		s += fmt.Sprintf(", top-p %g", p)
	}
	return s
}

// spread picks k windows evenly over the list (all when k is 0 or too large).
func spread(w [][]int32, k int) [][]int32 {
	if k == 0 || k >= len(w) {
		return w
	}
	out := make([][]int32, k)
	for i := range out {
		out[i] = w[i*len(w)/k]
	}
	return out
}

// writeFile writes data to path atomically, making its folder.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// progress is a bar over all samples on a terminal, plain lines otherwise.
type progress struct {
	w   io.Writer
	p   *mpb.Progress
	bar *mpb.Bar
	t   time.Time
}

func newProgress(w io.Writer, total int, plain bool) *progress {
	pr := &progress{w: w, t: time.Now()}
	f, ok := w.(*os.File)
	if plain || !ok || !term.IsTerminal(int(f.Fd())) {
		return pr
	}
	pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))
	pr.bar = pr.p.New(int64(total), mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name("samples "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Name(" ETA "), decor.EwmaETA(decor.ET_STYLE_GO, 30)))
	return pr
}

func (pr *progress) inc() {
	if pr.bar != nil {
		now := time.Now()
		pr.bar.EwmaIncrement(now.Sub(pr.t))
		pr.t = now
	}
}

func (pr *progress) log(msg string) {
	if pr.p != nil {
		pr.p.Write([]byte(msg + "\n"))
		return
	}
	fmt.Fprintln(pr.w, msg)
}

func (pr *progress) done() {
	if pr.p != nil {
		pr.bar.Abort(false)
		pr.p.Wait()
	}
}
