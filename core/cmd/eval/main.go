// Command eval scores a model on held-out text (default: Persuasion): for a masked
// diffusion model the ELBO upper bound on the negative log-likelihood per token, from
// stratified Monte-Carlo draws of the masking level (LLaDA's scheme), with its standard
// error; for an autoregressive model the exact NLL. Both kinds score exactly the same
// tokens: windows of the model's sequence length. A continuous diffusion model has no
// likelihood here; for it eval reports its decoder's token accuracy on clean and noised
// latents and its denoiser's MSE at several times.
//
//	go run ./core/cmd/eval -model weights/austen-mdm.q8_0.ckpt -json
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/masked"
)

func main() { cli.Main("eval", run) }

// Result is the -json line.
type Result struct {
	Kind    string  `json:"kind"`   // "mdm" or "ar"
	NLL     float64 `json:"nll"`    // nats per token (mdm: upper bound)
	PPL     float64 `json:"ppl"`    // exp(nll) (mdm: upper bound)
	Stderr  float64 `json:"stderr"` // standard error of nll (0 for ar: exact)
	Tokens  int     `json:"tokens"`
	Windows int     `json:"windows"`
	Draws   int     `json:"draws,omitempty"`
	Model   string  `json:"model"`
	Data    string  `json:"data"`
	Seconds float64 `json:"seconds"`
	Levels  []Level `json:"levels,omitempty"` // mdm with -levels
}

// Level is the mean cross-entropy per masked token of the draws whose share of masked
// tokens fell in (From, To]: the bound is the average of these over a uniform level.
type Level struct {
	From  float64 `json:"from"`
	To    float64 `json:"to"`
	NLL   float64 `json:"nll"`
	Draws int     `json:"draws"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	modelPath := fs.String("model", "weights/austen-mdm.q8_0.ckpt", "model file (checkpoint or release file)")
	dataPath := fs.String("data", "", "text file to score (default: Persuasion, the held-out book)")
	draws := fs.Int("draws", 32, "Monte-Carlo draws of the masking level per window (mdm; LLaDA uses 128)")
	maxTokens := fs.Int("max-tokens", 16384, "score at most this many tokens (0: all)")
	batch := fs.Int("batch", 32, "sequences per network call")
	seed := fs.Uint64("seed", 1, "seed of the Monte-Carlo draws")
	asJSON := fs.Bool("json", false, "print one JSON object as the last line")
	threads := fs.Int("threads", 0, "threads (0: all cores)")
	nLevels := fs.Int("levels", 0, "mdm: also report the bound's terms in this many bins of the masked share (0: off)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: eval -model F [-data FILE] [-draws N] [-max-tokens N] [-json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *draws < 2 || *batch < 1 || *maxTokens < 0 || *nLevels < 0 {
		return errors.New("need -draws >= 2, -batch >= 1, -max-tokens >= 0, -levels >= 0")
	}
	if err := blas.Init(*threads); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "blas: %s\n", blas.Name())
	loaded, err := cli.Load(*modelPath)
	if err != nil {
		return err
	}
	if loaded.Continuous != nil {
		return evalContinuous(loaded, *modelPath, *dataPath, *maxTokens, *batch, *seed, *asJSON, stdout, stderr)
	}
	m, tok := loaded.Model, loaded.Tok
	st, docs, err := cli.Stream(tok, *dataPath, "val")
	if err != nil {
		return err
	}
	L := m.Cfg.SeqLen
	windows, prev := cli.ValWindows(st, L, *maxTokens, tok.EOT())
	if len(windows) == 0 {
		return fmt.Errorf("%s: fewer than %d tokens", docs[0].Name, L)
	}
	res := Result{Kind: "mdm", Tokens: len(windows) * L, Windows: len(windows), Model: *modelPath, Data: docs[0].Name}
	if m.Cfg.Causal {
		res.Kind = "ar"
	} else {
		res.Draws = *draws
	}
	bar := newBar(stderr, len(windows))
	start := time.Now()
	V := m.Cfg.Vocab
	if res.Kind == "ar" {
		// Exact NLL: input [prev, w_0..w_{L-2}], targets w_0..w_{L-1}.
		var sum float64
		for lo := 0; lo < len(windows); lo += *batch {
			hi := min(lo+*batch, len(windows))
			in, tg := make([]int32, 0, (hi-lo)*L), make([]int32, 0, (hi-lo)*L)
			for i := lo; i < hi; i++ {
				in = append(append(in, prev[i]), windows[i][:L-1]...)
				tg = append(tg, windows[i]...)
			}
			sum += masked.CrossEntropy(m.Forward(in, hi-lo), tg, V)
			bar(hi - lo)
		}
		res.NLL = sum / float64(res.Tokens)
	} else {
		// Each window's bound is an average over its draws; the windows are a fixed set
		// of tokens, so the error of the mean is the root-sum-square of theirs over W.
		// The head runs on the masked rows only: the bound needs no other logits.
		fn := func(xt []int32, B int, rows []int32) ([]float32, error) { return m.ForwardRows(xt, B, rows), nil }
		rng := rand.New(rand.NewPCG(*seed, 0xe7a1))
		var sum, v float64
		binSum := make([]float64, *nLevels)
		binN := make([]int, *nLevels)
		for _, w := range windows {
			levels, est, err := masked.ELBODrawsRows(fn, *batch, w, V, m.Cfg.MaskID(), *draws, rng)
			if err != nil {
				return err
			}
			nll, se := masked.MeanSE(est)
			sum += nll
			v += se * se
			binDraws(binSum, binN, levels, est, L)
			bar(1)
		}
		W := float64(len(windows))
		res.NLL, res.Stderr = sum/W, math.Sqrt(v)/W
		for k := range binSum {
			lv := Level{From: float64(k) / float64(*nLevels), To: float64(k+1) / float64(*nLevels), Draws: binN[k]}
			if binN[k] > 0 {
				lv.NLL = binSum[k] / float64(binN[k])
			}
			res.Levels = append(res.Levels, lv)
		}
	}
	bar(-1)
	res.PPL = math.Exp(res.NLL)
	res.Seconds = time.Since(start).Seconds()
	what := "NLL"
	if res.Kind == "mdm" {
		what = "ELBO bound on NLL"
	}
	fmt.Fprintf(stderr, "%s on %d tokens of %s: %s %.4f ± %.4f nats/token, perplexity %.2f (%.1fs)\n",
		res.Kind, res.Tokens, res.Data, what, res.NLL, res.Stderr, res.PPL, res.Seconds)
	if len(res.Levels) > 0 {
		fmt.Fprintf(stderr, "masked share   draws  mean CE per masked token (nats)\n")
		for _, lv := range res.Levels {
			fmt.Fprintf(stderr, "(%.3f, %.3f]  %5d  %.4f\n", lv.From, lv.To, lv.Draws, lv.NLL)
		}
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "kind=%s nll=%.4f stderr=%.4f ppl=%.2f tokens=%d\n", res.Kind, res.NLL, res.Stderr, res.PPL, res.Tokens)
	}
	return nil
}

// newBar returns a progress function (n windows done; -1 finishes): a bar on a terminal,
// nothing otherwise.
func newBar(w io.Writer, total int) func(int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(int) {}
	}
	p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))
	b := p.New(int64(total), mpb.BarStyle(), mpb.PrependDecorators(decor.Name("windows "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.EwmaETA(decor.ET_STYLE_GO, 10)))
	last := time.Now()
	return func(n int) {
		if n < 0 {
			b.Abort(false)
			p.Wait()
			return
		}
		b.EwmaIncrBy(n, time.Since(last))
		last = time.Now()
	}
}

// binDraws adds each draw's estimate to bin k of its masked share: (l-1)/L in [k/n, (k+1)/n)
// for n bins (none: nothing to do).
func binDraws(sum []float64, count []int, levels []int, est []float64, L int) {
	if len(sum) == 0 {
		return
	}
	for j, l := range levels {
		k := (l - 1) * len(sum) / L
		sum[k] += est[j]
		count[k]++
	}
}
