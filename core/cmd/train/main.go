// Command train trains a masked diffusion language model (-objective mdm) or the
// autoregressive baseline (-objective ar) on text files, by default the five Austen
// training books, validating on Persuasion.
//
//	go run ./core/cmd/train -objective mdm -steps 3000 -out runs/mdm
//	go run ./core/cmd/train -out runs/mdm -resume        # continue after a crash or Ctrl-C
//	mpirun -np 2 train -dist mpi -threads 1 -out runs/mdm # data-parallel on 2 ranks (Open MPI)
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/dist"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// comm is the job this process belongs to (-dist); one process until run opens MPI.
var comm dist.Comm = dist.Single{}

// errInterrupted ends a run stopped by SIGINT/SIGTERM (exit status 130).
var errInterrupted = errors.New("interrupted")

func main() {
	err := run()
	switch {
	case errors.Is(err, errInterrupted):
		comm.Close()
		os.Exit(130)
	case err != nil && comm.Size() > 1:
		// One rank's error ends the whole job: the others may be waiting for it in a
		// collective and would otherwise wait forever.
		fmt.Fprintf(os.Stderr, "train: rank %d of %d: %v\n", comm.Rank(), comm.Size(), err)
		comm.Abort(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
	if err := comm.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run() error {
	d := train.Default()
	var (
		configPath = flag.String("config", "", "JSON file with a train.Config (flags given explicitly override it)")
		out        = flag.String("out", "", "output folder: checkpoint.ckpt, model.ckpt, metrics.jsonl, loss.png (default runs/<objective>)")
		resume     = flag.Bool("resume", false, "continue the run in -out from its checkpoint (exactly as if never interrupted)")
		dataFiles  = flag.String("data", "", "comma-separated UTF-8 text files to train on (default: the five Austen training books)")
		valFile    = flag.String("val", "", "validation text file (default: Persuasion)")
		tokPath    = flag.String("tokenizer", "weights/tokenizer.json", "tokenizer.json to use; if the file is missing, one is trained on the training data and saved there")
		threads    = flag.Int("threads", 0, "BLAS and worker threads (0: all cores)")
		logEvery   = flag.Int("log-every", 10, "steps between metric lines")
		noBar      = flag.Bool("no-progress", false, "plain log lines instead of a progress bar")
		initPath   = flag.String("init", "", "start from the weights of this model file (its architecture replaces -dim etc.; the optimizer and step start fresh)")
		distKind   = flag.String("dist", "none", "data-parallel training: none, or mpi (start with mpirun -np N; rank r trains on sequences [r*B/N, (r+1)*B/N) of each batch, rank 0 writes the files)")
	)
	c := d
	flag.StringVar(&c.Objective, "objective", d.Objective, "mdm (masked diffusion) or ar (autoregressive baseline)")
	flag.IntVar(&c.Model.Dim, "dim", d.Model.Dim, "model width")
	flag.IntVar(&c.Model.Layers, "layers", d.Model.Layers, "Transformer blocks")
	flag.IntVar(&c.Model.Heads, "heads", d.Model.Heads, "attention heads")
	flag.IntVar(&c.Model.Hidden, "hidden", d.Model.Hidden, "SwiGLU hidden width")
	flag.IntVar(&c.Model.SeqLen, "seq-len", d.Model.SeqLen, "sequence length L")
	flag.IntVar(&c.Model.Vocab, "vocab", d.Model.Vocab, "vocabulary size when a tokenizer is trained")
	flag.BoolVar(&c.Model.Shift, "shift", false, "mdm adapted from an AR with -init: position i's logits come from hidden state i-1, where the AR predicted token i")
	flag.IntVar(&c.Steps, "steps", d.Steps, "optimizer steps")
	flag.IntVar(&c.Batch, "batch", d.Batch, "sequences per step")
	flag.Float64Var(&c.LR, "lr", d.LR, "peak learning rate")
	flag.Float64Var(&c.MinLR, "min-lr", d.MinLR, "final learning rate of the cosine decay")
	flag.IntVar(&c.Warmup, "warmup", d.Warmup, "linear warm-up steps")
	flag.Float64Var(&c.WeightDecay, "wd", d.WeightDecay, "AdamW weight decay")
	flag.Float64Var(&c.Clip, "clip", d.Clip, "gradient-norm clip (0: off)")
	flag.Uint64Var(&c.Seed, "seed", d.Seed, "seed for init, batches and masks")
	flag.StringVar(&c.Schedule, "schedule", d.Schedule, "masking schedule: linear, cosine or loglinear (mdm)")
	flag.BoolVar(&c.Antithetic, "antithetic", d.Antithetic, "antithetic masking times across the batch (mdm)")
	flag.BoolVar(&c.SingleRatioPerSequence, "single-ratio", false, "ablation: one masking ratio for the whole batch (mdm)")
	flag.StringVar(&c.Masking, "masking", d.Masking, "mdm masking: bernoulli (each token with prob 1-alpha(t), weight w(t)) or count (exactly l ~ U{1..L} tokens, weight L/l; same bound, lower variance)")
	flag.BoolVar(&c.DivideByMasked, "divide-by-masked", false, "ablation: divide by the masked count instead of B*L (mdm; not a bound)")
	flag.Float64Var(&c.Dropout, "dropout", 0, "residual dropout probability in training (0: off)")
	flag.IntVar(&c.DropoutStart, "dropout-start", 0, "first step with dropout (late dropout; with -resume, -dropout and -dropout-start change the rest of the run)")
	flag.IntVar(&c.AverageFrom, "average-from", 0, "final weights = mean of the weights after this step and every -average-every steps after it (0: off; the last weights go to model-last.ckpt)")
	flag.IntVar(&c.AverageEvery, "average-every", 100, "steps between averaged weights (with -average-from)")
	flag.IntVar(&c.EvalEvery, "eval-every", d.EvalEvery, "steps between validation passes (0: only at the end)")
	flag.IntVar(&c.EvalTokens, "eval-tokens", d.EvalTokens, "validation tokens per pass")
	flag.IntVar(&c.CheckpointEvery, "checkpoint-every", d.CheckpointEvery, "steps between checkpoints (also saved on SIGINT/SIGTERM)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: train [flags]\n\nTrains a masked diffusion LM (or the AR baseline) and writes checkpoints, metrics and plots.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", flag.Arg(0))
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *initPath != "" && *resume {
		return errors.New("-init starts a new run and -resume continues one: pass only one")
	}
	if *configPath != "" && !*resume {
		raw, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		fc := d
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fc); err != nil {
			return fmt.Errorf("%s: %w", *configPath, err)
		}
		c = overlay(fc, c, set)
	}
	c.Model.Causal = c.Objective == "ar"
	if *out == "" {
		*out = filepath.Join("runs", c.Objective)
	}
	c0, err := dist.Open(*distKind)
	if err != nil {
		return err // comm stays the single process: main reports the error
	}
	comm = c0
	lead := comm.Rank() == 0
	// say prints on rank 0 only: the other ranks' lines would repeat it.
	say := func(format string, a ...any) {
		if lead {
			fmt.Fprintf(os.Stderr, format, a...)
		}
	}
	if err := blas.Init(*threads); err != nil {
		return err
	}
	if comm.Size() > 1 {
		host, _ := os.Hostname()
		fmt.Fprintf(os.Stderr, "dist: rank %d of %d, pid %d, host %s\n", comm.Rank(), comm.Size(), os.Getpid(), host)
	}
	say("blas: %s\n", blas.Name())

	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()

	var tr *train.Trainer
	ckpt := filepath.Join(*out, train.CheckpointFile)
	if *resume {
		steps := 0
		if set["steps"] {
			steps = c.Steps
		}
		// Rank 0's checkpoint is the state of every rank: it reads the file and sends it.
		raw, err := readOnLead(ckpt)
		if err != nil {
			return err
		}
		f, err := checkpoint.Decode(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", ckpt, err)
		}
		if tr, err = train.ResumeFile(f, ckpt, nil, steps); err != nil {
			return err
		}
		if set["dropout"] || set["dropout-start"] {
			if err := tr.SetDropout(c.Dropout, c.DropoutStart); err != nil {
				return err
			}
			say("from step %d: dropout %g from step %d (the run's config records it)\n", tr.Step, c.Dropout, c.DropoutStart)
		}
		if set["average-from"] || set["average-every"] {
			if err := tr.SetAverage(c.AverageFrom, c.AverageEvery); err != nil {
				return err
			}
			say("from step %d: averaging the weights from step %d every %d steps (the run's config records it)\n", tr.Step, c.AverageFrom, c.AverageEvery)
		}
		c = tr.Cfg
		say("resuming %s at step %d of %d\n", ckpt, tr.Step, c.Steps)
	} else if _, err := os.Stat(ckpt); err == nil && lead {
		return fmt.Errorf("%s exists: pass -resume to continue that run, or choose another -out", ckpt)
	}
	ds, err := loadData(*dataFiles, *valFile, *tokPath, c, tr, *out)
	if err != nil {
		return err
	}
	if tr == nil && *initPath != "" {
		tr, err = warmStart(*initPath, c, ds)
		if err != nil {
			return err
		}
		c = tr.Cfg
		say("starting from the weights of %s\n", c.Init)
	} else if tr == nil {
		c.Model.Vocab = ds.tok.Vocab()
		tr, err = train.New(c, ds.tokJSON, ds.batch)
		if err != nil {
			return err
		}
	} else {
		tr.SetBatchFunc(ds.batch)
	}
	if err := tr.SetComm(comm); err != nil {
		return err
	}
	say("%s: %d parameters, %d training tokens, %d validation tokens, batch %dx%d, %d steps\n",
		c.Objective, c.Model.NumParams(), ds.trainTokens, len(ds.valWindows)*c.Model.SeqLen, c.Batch, c.Model.SeqLen, c.Steps)

	r := &train.Runner{T: tr, Dir: *out, ValWindows: ds.valWindows, ValPrev: ds.valPrev, LogEvery: *logEvery}
	prog := newProgress(c.Steps, tr.Step, c.Objective, *noBar || !lead)
	if lead {
		r.OnStep, r.OnEval, r.OnEvalAverage = prog.step, prog.eval, prog.evalAverage
	}
	start := time.Now()
	err = r.Run(ctx)
	prog.done()
	if errors.Is(err, context.Canceled) {
		say("interrupted at step %d; checkpoint saved to %s (continue with -resume -out %s)\n", tr.Step, ckpt, *out)
		return errInterrupted
	}
	if err != nil {
		return err
	}
	say("done: %d steps in %s; weights %s, metrics %s, plot %s\n", tr.Step, time.Since(start).Round(time.Second),
		filepath.Join(*out, train.ModelFile), filepath.Join(*out, train.MetricsFile), filepath.Join(*out, train.PlotFile))
	return nil
}

// warmStart builds a new run from the weights in path: the architecture is the file's, the
// objective must match its attention mask, and its tokenizer must be the run's.
func warmStart(path string, c train.Config, ds *dataset) (*train.Trainer, error) {
	raw, err := readOnLead(path)
	if err != nil {
		return nil, err
	}
	f, err := checkpoint.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := model.FromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case m.Cfg.Causal && c.Objective == "mdm":
		// Adaptation from an autoregressive model (DiffuLLaMA, Dream): the same weights,
		// the causal mask lifted; with -shift the head still reads the previous position.
		m.Cfg.Causal = false
		m.Cfg.Shift = c.Model.Shift
	case c.Model.Shift && !m.Cfg.Shift:
		return nil, fmt.Errorf("%s: -shift applies when adapting an AR model; this masked model was trained without it", path)
	case !m.Cfg.Causal && c.Objective == "ar":
		return nil, fmt.Errorf("%s: a bidirectional model cannot start an ar run", path)
	}
	if m.Cfg.SeqLen != c.Model.SeqLen {
		return nil, fmt.Errorf("%s: sequence length %d, the run's is %d (pass -seq-len %d)", path, m.Cfg.SeqLen, c.Model.SeqLen, m.Cfg.SeqLen)
	}
	if !bytes.Equal(f.Tokenizer, ds.tokJSON) {
		return nil, fmt.Errorf("%s: its tokenizer differs from the run's (%d vs %d bytes of tokenizer.json)", path, len(f.Tokenizer), len(ds.tokJSON))
	}
	c.Model = m.Cfg
	sum := sha256.Sum256(raw)
	c.Init = fmt.Sprintf("%s sha256:%x", filepath.Base(path), sum)
	return train.NewFrom(c, m, ds.tokJSON, ds.batch)
}

// readOnLead returns the file at path as rank 0 reads it, on every rank: in a job over
// several hosts only rank 0's disk needs the checkpoint or initial weights.
func readOnLead(path string) ([]byte, error) {
	var raw []byte
	var err error
	if comm.Rank() == 0 {
		raw, err = os.ReadFile(path)
	}
	return dist.BroadcastBytes(comm, 0, raw, err)
}

// overlay returns the config file's values with every explicitly given flag on top.
func overlay(file, flags train.Config, set map[string]bool) train.Config {
	out := file
	pick := map[string]func(){
		"objective": func() { out.Objective = flags.Objective }, "dim": func() { out.Model.Dim = flags.Model.Dim },
		"layers": func() { out.Model.Layers = flags.Model.Layers }, "heads": func() { out.Model.Heads = flags.Model.Heads },
		"hidden": func() { out.Model.Hidden = flags.Model.Hidden }, "seq-len": func() { out.Model.SeqLen = flags.Model.SeqLen },
		"vocab": func() { out.Model.Vocab = flags.Model.Vocab }, "steps": func() { out.Steps = flags.Steps },
		"shift": func() { out.Model.Shift = flags.Model.Shift },
		"batch": func() { out.Batch = flags.Batch }, "lr": func() { out.LR = flags.LR }, "min-lr": func() { out.MinLR = flags.MinLR },
		"warmup": func() { out.Warmup = flags.Warmup }, "wd": func() { out.WeightDecay = flags.WeightDecay },
		"clip": func() { out.Clip = flags.Clip }, "seed": func() { out.Seed = flags.Seed }, "schedule": func() { out.Schedule = flags.Schedule },
		"antithetic": func() { out.Antithetic = flags.Antithetic }, "single-ratio": func() { out.SingleRatioPerSequence = flags.SingleRatioPerSequence },
		"divide-by-masked": func() { out.DivideByMasked = flags.DivideByMasked }, "masking": func() { out.Masking = flags.Masking }, "eval-every": func() { out.EvalEvery = flags.EvalEvery },
		"eval-tokens": func() { out.EvalTokens = flags.EvalTokens }, "checkpoint-every": func() { out.CheckpointEvery = flags.CheckpointEvery },
	}
	for name := range set {
		if f, ok := pick[name]; ok {
			f()
		}
	}
	return out
}
