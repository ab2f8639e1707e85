package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/dist"
)

// Files of a run's output folder.
const (
	CheckpointFile = "checkpoint.ckpt" // latest training checkpoint (weights + optimizer)
	ModelFile      = "model.ckpt"      // final weights only, f32 (for eval, sample, quantize); the tail average when the run averages
	LastModelFile  = "model-last.ckpt" // the last weights of a run that averages (ModelFile is then the average)
	MetricsFile    = "metrics.jsonl"   // one JSON object per logged step or evaluation
	PlotFile       = "loss.png"        // training and validation curves
)

// Record is one line of metrics.jsonl.
type Record struct {
	Step     int      `json:"step"`
	Loss     *float64 `json:"loss,omitempty"`
	ValLoss  *float64 `json:"val_loss,omitempty"`
	ValAvg   *float64 `json:"val_loss_average,omitempty"` // the tail-averaged weights' (the end of a run that averages)
	LR       float64  `json:"lr,omitempty"`
	GradNorm float64  `json:"grad_norm,omitempty"`
	Tokens   int64    `json:"tokens"`
	Elapsed  float64  `json:"elapsed_s"`
	TokPerS  float64  `json:"tokens_per_s,omitempty"`
}

// Runner drives a Trainer to its step count, evaluating, logging and checkpointing.
type Runner struct {
	T             *Trainer
	Dir           string
	ValWindows    [][]int32 // validation windows of SeqLen tokens
	ValPrev       []int32   // token before each window (AR context); EOT for the first
	LogEvery      int       // steps between metric lines (default 10)
	OnStep        func(s Stats, tokPerS float64)
	OnEval        func(step int, valLoss float64)
	OnEvalAverage func(n int, valLoss float64) // the tail average of n weights, at the end
	OnSave        func(path string)
}

// Run trains until the configured step count or until ctx is cancelled; either way the
// latest state is saved first, so a SIGINT loses nothing. At the end it writes the final
// weights (ModelFile) and the plot. In a data-parallel job every rank calls Run; rank 0
// alone validates and writes files (see follow).
func (r *Runner) Run(ctx context.Context) error {
	t := r.T
	if !t.Lead() {
		return r.follow(ctx)
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	// A run killed while saving (SIGKILL, power loss) leaves a save's temporary file; the
	// restarted run owns the folder, so it removes its own files' temporaries.
	for _, name := range []string{CheckpointFile, ModelFile, LastModelFile} {
		if _, err := checkpoint.RemoveTemps(filepath.Join(r.Dir, name)); err != nil {
			return err
		}
	}
	logEvery := max(1, r.LogEvery)
	if r.LogEvery == 0 {
		logEvery = 10
	}
	records, err := readMetrics(filepath.Join(r.Dir, MetricsFile), t.Step)
	if err != nil {
		return err
	}
	var elapsed0 float64
	if n := len(records); n > 0 {
		elapsed0 = records[n-1].Elapsed
	}
	// The log is rewritten without lines past the resumed step (temp file + rename, so a
	// crash here keeps the old log), then appended to.
	mpath := filepath.Join(r.Dir, MetricsFile)
	var buf bytes.Buffer
	for _, rec := range records {
		b, _ := json.Marshal(rec)
		buf.Write(append(b, '\n'))
	}
	if err := os.WriteFile(mpath+".tmp", buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(mpath+".tmp", mpath); err != nil {
		return err
	}
	mf, err := os.OpenFile(mpath, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer mf.Close()
	emit := func(rec Record) {
		records = append(records, rec)
		b, _ := json.Marshal(rec)
		mf.Write(append(b, '\n'))
	}

	c := t.Cfg
	tokPerStep := int64(c.Batch * c.Model.SeqLen)
	tokens := int64(t.Step) * tokPerStep // counted from the step, so a resumed run's count is exact
	start := time.Now()
	lastT, lastStep := start, t.Step
	save := func() error {
		p := filepath.Join(r.Dir, CheckpointFile)
		if err := t.Save(p); err != nil {
			return err
		}
		if r.OnSave != nil {
			r.OnSave(p)
		}
		return nil
	}
	evaluate := func() {
		if len(r.ValWindows) == 0 {
			return
		}
		v := t.Validate(r.ValWindows, r.ValPrev)
		emit(Record{Step: t.Step, ValLoss: &v, Tokens: tokens, Elapsed: elapsed0 + time.Since(start).Seconds()})
		if r.OnEval != nil {
			r.OnEval(t.Step, v)
		}
		_ = Plot(filepath.Join(r.Dir, PlotFile), records, c.Objective)
	}
	for t.Step < c.Steps {
		if t.stopping(ctx) {
			if err := save(); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			return context.Canceled // another rank was interrupted
		}
		s := t.TrainStep()
		tokens += tokPerStep
		now := time.Now()
		tps := float64(int64(t.Step-lastStep)*tokPerStep) / now.Sub(lastT).Seconds()
		if r.OnStep != nil {
			r.OnStep(s, tps)
		}
		if math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			return fmt.Errorf("step %d: loss is %v; lower the learning rate (last checkpoint kept)", s.Step, s.Loss)
		}
		if t.Step%logEvery == 0 || t.Step == c.Steps {
			loss := s.Loss
			emit(Record{Step: t.Step, Loss: &loss, LR: s.LR, GradNorm: s.GradNorm, Tokens: tokens,
				Elapsed: elapsed0 + now.Sub(start).Seconds(), TokPerS: tps})
			lastT, lastStep = now, t.Step
		}
		if c.EvalEvery > 0 && t.Step%c.EvalEvery == 0 && t.Step < c.Steps {
			evaluate()
		}
		if c.CheckpointEvery > 0 && t.Step%c.CheckpointEvery == 0 {
			if err := save(); err != nil {
				return err
			}
		}
	}
	// A finished run resumed again (build/train-demo.sh re-run after it completed) has its
	// final evaluations in the log already; it only rewrites the files.
	logged := func(has func(Record) bool) bool {
		for _, rec := range records {
			if rec.Step == t.Step && has(rec) {
				return true
			}
		}
		return false
	}
	if !logged(func(rec Record) bool { return rec.ValLoss != nil }) {
		evaluate()
	}
	if err := save(); err != nil {
		return err
	}
	final := t.Model
	if avg := t.Averaged(); avg != nil {
		if err := checkpoint.Save(filepath.Join(r.Dir, LastModelFile), t.ModelFile(t.Model)); err != nil {
			return err
		}
		final = avg
		if len(r.ValWindows) > 0 && !logged(func(rec Record) bool { return rec.ValAvg != nil }) {
			v := t.ValidateWeights(avg.Params, r.ValWindows, r.ValPrev)
			emit(Record{Step: t.Step, ValAvg: &v, Tokens: tokens, Elapsed: elapsed0 + time.Since(start).Seconds()})
			if r.OnEvalAverage != nil {
				r.OnEvalAverage(t.AvgN, v)
			}
		}
	}
	if err := checkpoint.Save(filepath.Join(r.Dir, ModelFile), t.ModelFile(final)); err != nil {
		return err
	}
	return Plot(filepath.Join(r.Dir, PlotFile), records, c.Objective)
}

// follow is Run on a rank other than 0: the same steps, no files, no validation (rank 0
// validates while the others wait in the next step's all-reduce).
func (r *Runner) follow(ctx context.Context) error {
	t := r.T
	for t.Step < t.Cfg.Steps {
		if t.stopping(ctx) {
			return context.Canceled
		}
		if s := t.TrainStep(); math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
			return fmt.Errorf("step %d: loss is %v", s.Step, s.Loss)
		}
	}
	return nil
}

// stopping reports whether the run stops before the next step: ctx is cancelled here, or,
// in a data-parallel job, on any rank (so all ranks stop after the same step).
func (t *Trainer) stopping(ctx context.Context) bool {
	if t.Comm == nil {
		return ctx.Err() != nil
	}
	return dist.Any(t.Comm, ctx.Err() != nil)
}

// readMetrics loads an existing log, keeping only records up to step (a resumed run
// repeats the steps after its checkpoint, so their old lines are dropped).
func readMetrics(path string, step int) ([]Record, error) {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Record
	for _, line := range bytes.Split(raw, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r Record
		if json.Unmarshal(line, &r) != nil { // a line cut by a crash
			continue
		}
		if r.Step <= step {
			out = append(out, r)
		}
	}
	return out, nil
}
