// Command encstats measures the per-dimension statistics of a masked model's encodings
// over the training split (special tokens excluded): the normalisation of continuous
// diffusion's latents. It prints a summary; -out writes the statistics as JSON.
//
//	go run ./core/cmd/encstats -model weights/austen-mdm.q8_0.ckpt
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
)

func main() { cli.Main("encstats", run) }

// Summary is the -json line: the statistics' overview, not the statistics (see -out).
type Summary struct {
	Encoder string  `json:"encoder"` // "contextual" or "embeddings"
	Model   string  `json:"model"`
	Data    string  `json:"data"`
	D       int     `json:"d"`
	N       int64   `json:"n"`        // positions measured
	MeanAbs float64 `json:"mean_abs"` // mean over dimensions of |mean|
	StdMin  float64 `json:"std_min"`  // smallest per-dimension std
	StdMax  float64 `json:"std_max"`  // largest
	StdMean float64 `json:"std_mean"` // mean over dimensions of std
	Seconds float64 `json:"seconds"`
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("encstats", flag.ContinueOnError)
	modelPath := fl.String("model", "weights/austen-mdm.q8_0.ckpt", "masked model file whose encodings to measure")
	dataPath := fl.String("data", "", "comma-separated text files (default: the five training books)")
	embeddings := fl.Bool("embeddings", false, "measure the token embeddings (context-free) instead of the hidden states")
	maxTokens := fl.Int("max-tokens", 0, "measure at most this many tokens (0: all)")
	batch := fl.Int("batch", 32, "sequences per network call")
	out := fl.String("out", "", "write the statistics (JSON: d, n, mean, std) to this file")
	asJSON := fl.Bool("json", false, "print the summary as one JSON object")
	threads := fl.Int("threads", 0, "threads (0: all cores)")
	if err := cli.ParseFlags(fl, args, stderr, "usage: encstats [flags]\n\nMeasures the per-dimension mean and std of a model's encodings over the training text.\n\n"); err != nil {
		return err
	}
	if *batch < 1 || *maxTokens < 0 {
		return errors.New("need -batch >= 1 and -max-tokens >= 0")
	}
	if err := blas.Init(*threads); err != nil {
		return err
	}
	m, tok, _, err := cli.LoadModel(*modelPath)
	if err != nil {
		return err
	}
	if m.Cfg.Causal {
		return fmt.Errorf("%s: an autoregressive model; its hidden states see only the left context", *modelPath)
	}
	st, docs, err := cli.Stream(tok, *dataPath, "train")
	if err != nil {
		return err
	}
	L := m.Cfg.SeqLen
	windows := st.Windows(L)
	if *maxTokens > 0 && len(windows) > *maxTokens/L {
		windows = windows[:max(1, *maxTokens/L)]
	}
	if len(windows) == 0 {
		return fmt.Errorf("the text holds fewer than %d tokens", L)
	}
	sum := Summary{Encoder: "contextual", Model: *modelPath, Data: fmt.Sprintf("%d documents", len(docs))}
	enc := continuous.Contextual(m)
	if *embeddings {
		sum.Encoder, enc = "embeddings", continuous.Embeddings(m)
	}
	start, seen, next := time.Now(), 0, len(windows)/10
	progress := func(n int) {
		if seen += n; seen >= next && seen < len(windows) {
			fmt.Fprintf(stderr, "%d/%d windows, %.0fs\n", seen, len(windows), time.Since(start).Seconds())
			next += len(windows) / 10
		}
	}
	stats, err := continuous.Measure(enc, m.Cfg.Dim, windows, *batch, []int32{m.Cfg.EOTID(), m.Cfg.MaskID()}, progress)
	if err != nil {
		return err
	}
	sum.D, sum.N, sum.Seconds = stats.D, stats.N, time.Since(start).Seconds()
	sum.StdMin, sum.StdMax = math.Inf(1), 0
	for j := range stats.D {
		sum.MeanAbs += math.Abs(stats.Mean[j]) / float64(stats.D)
		sum.StdMean += stats.Std[j] / float64(stats.D)
		sum.StdMin, sum.StdMax = min(sum.StdMin, stats.Std[j]), max(sum.StdMax, stats.Std[j])
	}
	if *out != "" {
		raw, err := json.Marshal(stats)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(sum)
	}
	fmt.Fprintf(stdout, "%s encodings of %s over %s: %d positions of width %d (EOT and MASK excluded), %.1fs\n",
		sum.Encoder, sum.Model, sum.Data, sum.N, sum.D, sum.Seconds)
	fmt.Fprintf(stdout, "mean |mean| %.4f   std min %.4f  mean %.4f  max %.4f\n", sum.MeanAbs, sum.StdMin, sum.StdMean, sum.StdMax)
	return nil
}
