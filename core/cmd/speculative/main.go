// Command speculative measures speculative sampling against the plain sampler with the
// same steps: for each strategy, draft and K it draws the same unconditional samples
// (seed i for sample i) and reports acceptance per token and per step, sequential target
// calls per generated token, the target's forward rows and FLOPs, the draft's calls and
// FLOPs, the AR judge's perplexity and distinct-n (the distribution is the target's, so
// these must agree with the plain row within their errors), and the wall time per sample at
// each BLAS thread count, as the median ratio to the plain sampler on the same seed (the
// runs of one seed follow each other, so a shared machine's load shifts both alike).
// A continuous diffusion target (core/continuous) gets the plain sde sampler's line and the
// frozen draft's at each K, with acceptance per step (a step is accepted whole).
//
//	go run ./core/cmd/speculative                         # writes build/out/speculative.{md,png}
//	go run ./core/cmd/speculative -samples 2 -k 4 -drafts frozen -threads 1
//	go run ./core/cmd/speculative -model weights/austen-tencdm.q8_0.ckpt -drafts frozen -steps 50 -threads 1
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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quality"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

func main() { cli.Main("speculative", run) }

type flags struct {
	model, judge, drafts, strategies, outMD, outPNG, rows string
	ks, threads                                           []int
	samples, n, steps, block, batch                       int
	temperature, topP                                     float64
	seed                                                  uint64
	asJSON, selfCond, adaptive                            bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	var ks, threads string
	fl := flag.NewFlagSet("speculative", flag.ContinueOnError)
	fl.StringVar(&f.model, "model", "weights/austen-mdm.q8_0.ckpt", "target masked diffusion model `file`")
	fl.StringVar(&f.judge, "judge", "weights/austen-ar.f32.ckpt", "autoregressive judge `file` (same tokenizer)")
	fl.StringVar(&f.drafts, "drafts", "frozen,self:1,self:2,weights/austen-mdm-draft.q8_0.ckpt", "comma-separated drafts: frozen, self:N (the target's first N blocks) or a draft model file")
	fl.StringVar(&ks, "k", "2,4,8", "comma-separated drafted steps per target call")
	fl.StringVar(&f.strategies, "strategies", "random,semi-ar", "comma-separated strategies")
	fl.IntVar(&f.block, "block", 8, "block length of semi-ar")
	fl.Float64Var(&f.temperature, "temperature", 1, "sampling temperature (1: the model's own distribution)")
	fl.Float64Var(&f.topP, "topp", 0, "top-p cut (0: off)")
	fl.IntVar(&f.samples, "samples", 8, "samples per setting")
	fl.IntVar(&f.n, "n", 64, "tokens per sample")
	fl.IntVar(&f.steps, "steps", 64, "steps of every setting, plain and speculative (one token a step at -n 64)")
	fl.StringVar(&threads, "threads", "1,2", "comma-separated BLAS thread counts to time")
	fl.IntVar(&f.batch, "batch", 16, "sequences per judge forward pass")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the first sample")
	fl.StringVar(&f.outMD, "out-md", "build/out/speculative.md", "Markdown table `file` (empty: none)")
	fl.StringVar(&f.outPNG, "out-png", "build/out/speculative.png", "plot `file` (empty: none)")
	fl.BoolVar(&f.selfCond, "selfcond", true, "continuous targets with self-conditioning: feed each step the last estimate (false: zeros, the chain the speculative sampler reproduces exactly)")
	fl.BoolVar(&f.adaptive, "adaptive", false, "continuous targets: add the frozen draft's lines with an adaptive length (at most -k)")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object per row")
	fl.StringVar(&f.rows, "rows", "", "comma-separated `files` of -json rows to draw the table and plot from instead of sampling (give the runs' other flags for the note; a strategy/draft/K seen twice keeps its first row)")
	if err := cli.ParseFlags(fl, args, stderr, "usage: speculative [flags]\n\nMeasures speculative sampling against the plain sampler.\n\n"); err != nil {
		return nil, err
	}
	var err error
	if f.ks, err = ints("-k", ks); err != nil {
		return nil, err
	}
	if f.threads, err = ints("-threads", threads); err != nil {
		return nil, err
	}
	switch {
	case f.samples < 1 || f.n < 1 || f.steps < 1:
		return nil, fmt.Errorf("-samples %d, -n %d, -steps %d: want each at least 1", f.samples, f.n, f.steps)
	case len(cli.SplitList(f.drafts)) == 0 || len(cli.SplitList(f.strategies)) == 0:
		return nil, errors.New("-drafts and -strategies need at least one entry each")
	}
	return f, nil
}

// ints parses a comma-separated list of positive integers.
func ints(name, s string) ([]int, error) {
	var out []int
	for _, p := range cli.SplitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("%s %q: want positive integers separated by commas", name, s)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty list", name)
	}
	return out, nil
}

// config is one line of the table: a strategy, and a draft with its K (none: plain).
type config struct {
	strategy string
	opt      sample.Options
	draft    string
	dcfg     *model.Config // the draft network (nil: frozen or plain)
	k        int
	// draw samples with the seed and returns the sample's tokens (Generated) and counts.
	draw func(seed uint64) (sample.SpecResult, error)
}

// Row is one line of the table, as -json prints it.
type Row struct {
	Strategy string `json:"strategy"`
	Draft    string `json:"draft,omitempty"` // empty: the plain sampler
	K        int    `json:"k,omitempty"`
	Samples  int    `json:"samples"`
	Tokens   int    `json:"tokens"`
	Steps    int    `json:"steps"` // committed steps, all samples

	TargetCalls    int     `json:"target_calls"` // sequential, all samples
	TargetRows     int     `json:"target_rows"`
	DraftCalls     int     `json:"draft_calls"`
	TargetGFLOP    float64 `json:"target_gflop_per_sample"`
	DraftGFLOP     float64 `json:"draft_gflop_per_sample"`
	AcceptPerToken float64 `json:"acceptance_per_token"`
	AcceptPerStep  float64 `json:"acceptance_per_step"`
	CallsPerToken  float64 `json:"target_calls_per_token"`
	RowsPerToken   float64 `json:"target_rows_per_token"`

	JudgePPL  float64 `json:"judge_ppl"`
	JudgeSE   float64 `json:"judge_ppl_se"`
	Distinct1 float64 `json:"distinct1"`
	Distinct2 float64 `json:"distinct2"`

	// Seconds is the median wall time per sample at each thread count (keys as strings for
	// JSON), Ratio the median over seeds of this row's time over the plain row's.
	Seconds map[string]float64 `json:"median_seconds"`
	Ratio   map[string]float64 `json:"median_time_ratio"`
	// CPURatio is Ratio for the process's CPU time (user and system), which a loaded
	// machine's waiting does not inflate.
	CPURatio map[string]float64 `json:"median_cpu_ratio"`
	BLAS     string             `json:"blas"` // the backend, without its thread count
}

func run(args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var rows []Row
	if f.rows != "" {
		rows, err = readRows(cli.SplitList(f.rows))
	} else {
		rows, err = measure(f, stderr)
	}
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errors.New("no rows to report")
	}
	return report(f, rows, stdout)
}

// measure samples every configuration and returns the table's rows.
func measure(f *flags, stderr io.Writer) ([]Row, error) {
	if err := blas.Init(f.threads[0]); err != nil {
		return nil, err
	}
	l, err := cli.Load(f.model)
	if err != nil {
		return nil, err
	}
	var configs []config
	var target model.Config
	if l.Continuous != nil {
		target = l.Continuous.Denoiser.Cfg
		configs, err = continuousConfigs(f, l.Continuous, l.Tok.Mask())
	} else {
		target = l.Model.Cfg
		configs, err = maskedConfigs(f, l.Model, l.Tok, l.TokJSON)
	}
	if err != nil {
		return nil, err
	}
	tok := l.Tok
	judge, _, judgeTok, err := cli.LoadModel(f.judge)
	if err != nil {
		return nil, err
	}
	if !judge.Cfg.Causal || !bytes.Equal(l.TokJSON, judgeTok) {
		return nil, fmt.Errorf("%s: the judge must be autoregressive and share the target's tokenizer", f.judge)
	}
	if f.n > target.SeqLen {
		return nil, fmt.Errorf("-n %d: more than the %d positions of %s", f.n, target.SeqLen, f.model)
	}

	// Draw every sample of every configuration at each thread count, the configurations of
	// one seed one after another. The tokens and counts come from the first pass.
	type result struct {
		toks    [][]int32
		r       sample.SpecResult // summed counts
		seconds map[int][]float64 // threads -> per sample
		cpu     map[int][]float64 // the same in CPU seconds
	}
	res := make([]result, len(configs))
	for i := range res {
		res[i].seconds, res[i].cpu = map[int][]float64{}, map[int][]float64{}
	}
	for pass, th := range f.threads {
		if err := blas.Init(th); err != nil {
			return nil, err
		}
		runtime.GOMAXPROCS(th)
		fmt.Fprintf(stderr, "pass %d: blas %s, GOMAXPROCS %d\n", pass+1, blas.Name(), th)
		for s := range f.samples {
			for ci, c := range configs {
				start, cpu0 := time.Now(), cpuSeconds()
				r, err := c.draw(f.seed + uint64(s))
				secs, cpu := time.Since(start).Seconds(), cpuSeconds()-cpu0
				if err != nil {
					return nil, fmt.Errorf("%s, draft %q, K %d, sample %d: %w", c.strategy, c.draft, c.k, s, err)
				}
				res[ci].seconds[th] = append(res[ci].seconds[th], secs)
				res[ci].cpu[th] = append(res[ci].cpu[th], cpu)
				if pass == 0 {
					res[ci].toks = append(res[ci].toks, slices.Clone(r.Generated))
					add(&res[ci].r, r)
				}
			}
			fmt.Fprintf(stderr, "  sample %d of %d done\n", s+1, f.samples)
		}
	}

	var rows []Row
	plain := 0 // index of the current strategy's plain configuration
	for ci, c := range configs {
		if c.draft == "" {
			plain = ci
		}
		r := res[ci].r
		row := Row{Strategy: label(c), Draft: c.draft, K: c.k, Samples: f.samples, Steps: r.Steps,
			TargetCalls: r.TargetCalls, TargetRows: r.TargetRows, DraftCalls: r.DraftCalls,
			Seconds: map[string]float64{}, Ratio: map[string]float64{}, CPURatio: map[string]float64{}, BLAS: blasFamily()}
		for _, t := range res[ci].toks {
			row.Tokens += len(t)
		}
		ns := float64(f.samples)
		row.TargetGFLOP = float64(r.TargetRows) * forwardFLOPs(target, f.n) / ns / 1e9
		if c.dcfg != nil {
			row.DraftGFLOP = float64(r.DraftRows) * forwardFLOPs(*c.dcfg, f.n) / ns / 1e9
		}
		if r.CheckedTokens > 0 { // a continuous step has no tokens of its own to accept
			row.AcceptPerToken = float64(r.AcceptedTokens) / float64(r.CheckedTokens)
		}
		if r.CheckedSteps > 0 {
			row.AcceptPerStep = float64(r.AcceptedSteps) / float64(r.CheckedSteps)
		}
		if row.Tokens > 0 {
			row.CallsPerToken = float64(r.TargetCalls) / float64(row.Tokens)
			row.RowsPerToken = float64(r.TargetRows) / float64(row.Tokens)
		}
		q, err := quality.Score(judge, nil, quality.Setting{Strategy: c.strategy, Options: c.opt},
			quality.Samples{Tokens: res[ci].toks}, tok.EOT(), f.batch)
		if err != nil {
			return nil, err
		}
		row.JudgePPL, row.JudgeSE, row.Distinct1, row.Distinct2 = q.JudgePPL, q.JudgeSE, q.Distinct1, q.Distinct2
		for _, th := range f.threads {
			key := strconv.Itoa(th)
			row.Seconds[key] = median(res[ci].seconds[th])
			row.Ratio[key] = medianRatio(res[ci].seconds[th], res[plain].seconds[th])
			row.CPURatio[key] = medianRatio(res[ci].cpu[th], res[plain].cpu[th])
		}
		rows = append(rows, row)
	}

	return rows, nil
}

// maskedConfigs are the lines of a masked diffusion target: for each strategy the plain
// sampler, then each draft at each K.
func maskedConfigs(f *flags, m *model.Model, tok *tokenizer.Tokenizer, raw []byte) ([]config, error) {
	if m.Cfg.Causal {
		return nil, fmt.Errorf("%s: the target must be a masked diffusion model", f.model)
	}
	var configs []config
	for _, st := range cli.SplitList(f.strategies) {
		opt := sample.Options{Steps: f.steps, GenLength: f.n, Strategy: st, Temperature: f.temperature, TopP: f.topP,
			MaskID: tok.Mask(), EOTID: tok.EOT()}
		if st == "semi-ar" {
			opt.BlockLength = f.block
		}
		ids := func() []int32 { return slices.Repeat([]int32{tok.Mask()}, f.n) }
		withSeed := func(seed uint64) sample.Options {
			o := opt
			o.Seed = seed
			return o
		}
		configs = append(configs, config{strategy: st, opt: opt, draw: func(seed uint64) (sample.SpecResult, error) {
			pr, err := sample.Infill(m, ids(), withSeed(seed))
			return sample.SpecResult{Result: pr, TargetCalls: pr.NFE, TargetRows: pr.NFE}, err
		}})
		for _, ds := range cli.SplitList(f.drafts) {
			d, name, err := cli.LoadDraft(ds, m, raw)
			if err != nil {
				return nil, err
			}
			for _, k := range f.ks {
				spec := sample.SpecOptions{K: k}
				c := config{strategy: st, opt: opt, draft: name, k: k}
				if d != nil {
					spec.Draft, c.dcfg = d, &d.Cfg
				}
				c.draw = func(seed uint64) (sample.SpecResult, error) {
					return sample.Speculative(m, ids(), withSeed(seed), spec)
				}
				configs = append(configs, c)
			}
		}
	}
	return configs, nil
}

// report writes the table and the plot, and prints the rows.
func report(f *flags, rows []Row, stdout io.Writer) error {
	note := []string{
		fmt.Sprintf("%d unconditional samples of %d tokens per line (seeds %d..%d, the same on every line), %d steps, temperature %g, top-p %g. Target `%s`; judge `%s` (AR, each sample read after EOT).",
			f.samples, f.n, f.seed, f.seed+uint64(f.samples)-1, f.steps, f.temperature, f.topP, f.model, f.judge),
		"Acceptance per token: drafted tokens the target kept / drafted tokens it checked; per step: drafted steps that stood / drafted steps it checked (a round stops at its first changed step). Target calls are sequential (one batched call of K+1 sequences per round); rows count the sequences it evaluated. FLOPs are forward passes at the sample's length, 2 x (parameters without the embedding) + 4 x layers x L x D per token.",
		fmt.Sprintf("Wall time: median seconds per sample, and the median over seeds of the ratio to the plain sampler on the same seed, on a 2-core machine shared with other jobs (the ratio is the steadier figure). BLAS %s.", rows[0].BLAS),
	}
	if f.asJSON {
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", b)
		}
	}
	title := "Speculative sampling: target calls, acceptance, quality and wall time"
	if f.outMD != "" {
		var b bytes.Buffer
		if err := writeMarkdown(&b, title, note, rows, f.threads); err != nil {
			return err
		}
		if err := writeFile(f.outMD, b.Bytes()); err != nil {
			return err
		}
	}
	if f.outPNG != "" {
		var b bytes.Buffer
		if err := writePNG(&b, rows, f.threads); err != nil {
			return err
		}
		if err := writeFile(f.outPNG, b.Bytes()); err != nil {
			return err
		}
	}
	if !f.asJSON {
		return writeMarkdown(stdout, title, note, rows, f.threads)
	}
	return nil
}

// readRows reads -json rows from files; a strategy, draft and K seen before is left out,
// and the rows are grouped by strategy in the order first seen, each group's plain row
// first.
func readRows(files []string) ([]Row, error) {
	var order []string
	groups := map[string][]Row{}
	seen := map[string]bool{}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r Row
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
			}
			key := fmt.Sprintf("%s|%s|%d", r.Strategy, r.Draft, r.K)
			if seen[key] {
				continue
			}
			seen[key] = true
			if _, ok := groups[r.Strategy]; !ok {
				order = append(order, r.Strategy)
			}
			if r.Draft == "" {
				groups[r.Strategy] = append([]Row{r}, groups[r.Strategy]...)
			} else {
				groups[r.Strategy] = append(groups[r.Strategy], r)
			}
		}
	}
	var rows []Row
	for _, st := range order {
		rows = append(rows, groups[st]...)
	}
	return rows, nil
}

// label is the strategy with its block, as the quality table writes it.
func label(c config) string {
	return quality.Setting{Strategy: c.strategy, Options: c.opt}.Label()
}

// add sums the counts of r into into.
func add(into *sample.SpecResult, r sample.SpecResult) {
	into.Steps += r.Steps
	into.TargetCalls += r.TargetCalls
	into.TargetRows += r.TargetRows
	into.DraftCalls += r.DraftCalls
	into.DraftRows += r.DraftRows
	into.CheckedSteps += r.CheckedSteps
	into.AcceptedSteps += r.AcceptedSteps
	into.CheckedTokens += r.CheckedTokens
	into.AcceptedTokens += r.AcceptedTokens
}

// forwardFLOPs is one forward pass over a sequence of L tokens: a third of the training
// cost (forward and backward) that model.Config.FLOPsPerToken counts, times L.
func forwardFLOPs(c model.Config, L int) float64 { return c.FLOPsPerToken(L) / 3 * float64(L) }

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medianRatio is the median over samples of x[s]/base[s].
func medianRatio(x, base []float64) float64 {
	var r []float64
	for s, v := range x {
		r = append(r, v/base[s])
	}
	return median(r)
}

// blasFamily is the backend's name without its thread count (each pass sets its own).
func blasFamily() string {
	n := blas.Name()
	if i := strings.IndexByte(n, '('); i > 0 {
		return n[:i]
	}
	return n
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
