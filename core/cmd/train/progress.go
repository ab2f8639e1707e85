package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/austen-diffusion/textdiffusion/core/train"
)

// progress shows a bar (step, loss, tokens/s, ETA) on a terminal and plain lines
// otherwise (logs, CI, nohup).
type progress struct {
	w      io.Writer
	mu     sync.Mutex
	status string
	p      *mpb.Progress
	bar    *mpb.Bar
	last   time.Time
	total  int
	bound  bool // exp(validation loss) bounds the perplexity (the objective is an ELBO)
	mse    bool // the loss is a mean squared error (continuous diffusion's denoiser), not in nats
}

func newProgress(w io.Writer, total, start int, bound, plain bool) *progress {
	pr := &progress{w: w, total: total, last: time.Now(), bound: bound}
	if f, ok := w.(*os.File); plain || !ok || !term.IsTerminal(int(f.Fd())) {
		return pr
	}
	pr.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))
	pr.bar = pr.p.New(int64(total), mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name("step "), decor.CountersNoUnit("%d/%d")),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			pr.mu.Lock()
			defer pr.mu.Unlock()
			return pr.status
		}), decor.Name(" ETA "), decor.EwmaETA(decor.ET_STYLE_GO, 20)))
	pr.bar.SetCurrent(int64(start))
	return pr
}

func (pr *progress) step(s train.Stats, tps float64) {
	now := time.Now()
	pr.mu.Lock()
	pr.status = fmt.Sprintf(" loss %.4f  %.0f tok/s", s.Loss, tps)
	pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.EwmaIncrement(now.Sub(pr.last))
	} else if s.Step%10 == 0 || s.Step == pr.total {
		fmt.Fprintf(pr.w, "step %d/%d loss %.4f lr %.2e grad %.2f %.0f tok/s\n", s.Step, pr.total, s.Loss, s.LR, s.GradNorm, tps)
	}
	pr.last = now
}

func (pr *progress) eval(step int, v float64) {
	if pr.mse {
		pr.note(fmt.Sprintf("step %d: validation MSE %.4f per latent value (normalised latents: 1 is no better than predicting 0)", step, v))
		return
	}
	what := "perplexity"
	if pr.bound {
		what = "upper bound on perplexity"
	}
	pr.note(fmt.Sprintf("step %d: validation loss %.4f (%s exp(loss) = %.1f)", step, v, what, math.Exp(v)))
}

// evalAverage reports the validation loss of the tail-averaged weights.
func (pr *progress) evalAverage(n int, v float64) {
	pr.note(fmt.Sprintf("tail average of %d weights: validation loss %.4f (exp = %.1f)", n, v, math.Exp(v)))
}

// note prints a line above the bar (or plainly when there is none).
func (pr *progress) note(msg string) {
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
