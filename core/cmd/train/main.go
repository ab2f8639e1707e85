// Command train trains a masked diffusion language model (-objective mdm), the
// autoregressive baseline (-objective ar), or the continuous diffusion model's decoder and
// denoiser (-objective decoder, -objective continuous: on the latents of a frozen masked
// model, -encoder) on text files, by default the five Austen training books, validating on
// Persuasion.
//
//	go run ./core/cmd/train -objective mdm -steps 3000 -out runs/mdm
//	go run ./core/cmd/train -out runs/mdm -resume        # continue after a crash or Ctrl-C
//	go run ./core/cmd/train -config run.json -dropout 0.1 # a config file, flags on top
//	mpirun -np 2 train -dist mpi -threads 1 -out runs/mdm # data-parallel on 2 ranks (Open MPI)
//	go run ./core/cmd/train -objective decoder -layers 2 -out runs/dec
//	go run ./core/cmd/train -objective continuous -decoder runs/dec/model.ckpt -out runs/tencdm
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/dist"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// comm is the job this process belongs to (-dist); one process until run opens MPI.
var comm dist.Comm = dist.Single{}

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, context.Canceled): // interrupted; run said where the checkpoint is
		comm.Close()
		os.Exit(130)
	case comm.Size() > 1:
		// One rank's error ends the whole job: the others may be waiting for it in a
		// collective and would otherwise wait forever.
		fmt.Fprintf(os.Stderr, "train: rank %d of %d: %v\n", comm.Rank(), comm.Size(), err)
		comm.Abort(1)
	default:
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
	if err := comm.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

// options are the flags that are not part of the run's config.
type options struct {
	configPath, out, dataFiles, valFile, tokPath, initPath, dist string
	resume, noBar                                                bool
	threads, logEvery                                            int

	// continuous diffusion
	encoderPath, statsPath, decoderPath string
	selfCond                            bool
}

// parseFlags parses args: the options, and the config flags (configFlags) into a scratch
// config; the returned set says which were given (overlay applies those).
func parseFlags(args []string, stderr io.Writer) (*options, *flag.FlagSet, error) {
	o := &options{}
	fl := flag.NewFlagSet("train", flag.ContinueOnError)
	fl.StringVar(&o.configPath, "config", "", "JSON file with a train.Config for a new run (config flags given explicitly override it)")
	fl.StringVar(&o.out, "out", "", "output folder: checkpoint.ckpt, model.ckpt, metrics.jsonl, loss.png (default runs/<objective>)")
	fl.BoolVar(&o.resume, "resume", false, "continue the run in -out from its checkpoint (exactly as if never interrupted)")
	fl.StringVar(&o.dataFiles, "data", "", "comma-separated UTF-8 text files to train on (default: the five Austen training books)")
	fl.StringVar(&o.valFile, "val", "", "validation text file (default: Persuasion)")
	fl.StringVar(&o.tokPath, "tokenizer", "weights/tokenizer.json", "tokenizer.json to use; if the file is missing, one is trained on the training data and saved there")
	fl.IntVar(&o.threads, "threads", 0, "BLAS and worker threads (0: all cores)")
	fl.IntVar(&o.logEvery, "log-every", 10, "steps between metric lines")
	fl.BoolVar(&o.noBar, "no-progress", false, "plain log lines instead of a progress bar")
	fl.StringVar(&o.initPath, "init", "", "start from the weights of this model file (its architecture replaces -dim etc.; the optimizer and step start fresh)")
	fl.StringVar(&o.dist, "dist", "none", "data-parallel training: none, or mpi (start with mpirun -np N; rank r trains on sequences [r*B/N, (r+1)*B/N) of each batch, rank 0 writes the files)")
	fl.StringVar(&o.encoderPath, "encoder", "weights/austen-mdm.q8_0.ckpt", "continuous, decoder: the masked model whose hidden states (or, with -latents embeddings, token embeddings) are the latents; frozen, and carried in every checkpoint")
	fl.StringVar(&o.statsPath, "encoder-stats", "", "continuous, decoder: the latents' statistics from encstats -out (default: measured over the training text at the start)")
	fl.StringVar(&o.decoderPath, "decoder", "", "continuous: a trained decoder (model.ckpt of an -objective decoder run on the same encoder) that the run's files carry, so they sample (also with -resume)")
	fl.BoolVar(&o.selfCond, "self-cond", true, "continuous: self-conditioning (the previous estimate of z0 as a second input)")
	scratch := train.Default()
	configFlags(fl, &scratch)
	if err := cli.ParseFlags(fl, args, stderr, "usage: train [flags]\n\nTrains a masked diffusion LM, the AR baseline, or a continuous diffusion model's decoder and denoiser, and writes checkpoints, metrics and plots.\n\n"); err != nil {
		return nil, nil, err
	}
	switch {
	case o.initPath != "" && o.resume:
		return nil, nil, errors.New("-init starts a new run and -resume continues one: pass only one")
	case o.configPath != "" && o.resume:
		return nil, nil, errors.New("-config starts a new run and -resume continues one (with its own config): pass only one")
	}
	return o, fl, nil
}

// configFlags defines on fl one flag per train.Config field that a command line sets,
// bound to c, with c's values as defaults. It is the only list of them: overlay applies
// whichever were given onto a config file's or a resumed run's config.
func configFlags(fl *flag.FlagSet, c *train.Config) {
	fl.StringVar(&c.Objective, "objective", c.Objective, "what to train: "+train.ObjectiveNames()+" (mdm: masked diffusion; ar: the autoregressive baseline)")
	fl.IntVar(&c.Model.Dim, "dim", c.Model.Dim, "model width")
	fl.IntVar(&c.Model.Layers, "layers", c.Model.Layers, "Transformer blocks")
	fl.IntVar(&c.Model.Heads, "heads", c.Model.Heads, "attention heads")
	fl.IntVar(&c.Model.Hidden, "hidden", c.Model.Hidden, "SwiGLU hidden width")
	fl.IntVar(&c.Model.SeqLen, "seq-len", c.Model.SeqLen, "sequence length L")
	fl.IntVar(&c.Model.Vocab, "vocab", c.Model.Vocab, "vocabulary size when a tokenizer is trained")
	fl.BoolVar(&c.Model.Shift, "shift", c.Model.Shift, "mdm adapted from an AR with -init: position i's logits come from hidden state i-1, where the AR predicted token i")
	fl.IntVar(&c.Steps, "steps", c.Steps, "optimizer steps (with -resume: the run's new total)")
	fl.IntVar(&c.Batch, "batch", c.Batch, "sequences per step")
	fl.Float64Var(&c.LR, "lr", c.LR, "peak learning rate")
	fl.Float64Var(&c.MinLR, "min-lr", c.MinLR, "final learning rate of the cosine decay")
	fl.IntVar(&c.Warmup, "warmup", c.Warmup, "linear warm-up steps")
	fl.Float64Var(&c.WeightDecay, "wd", c.WeightDecay, "AdamW weight decay")
	fl.Float64Var(&c.Clip, "clip", c.Clip, "gradient-norm clip (0: off)")
	fl.Uint64Var(&c.Seed, "seed", c.Seed, "seed for init, batches and masks")
	fl.StringVar(&c.Schedule, "schedule", c.Schedule, "masking schedule: linear, cosine or loglinear (mdm)")
	fl.BoolVar(&c.Antithetic, "antithetic", c.Antithetic, "antithetic masking times across the batch (mdm)")
	fl.BoolVar(&c.SingleRatioPerSequence, "single-ratio", c.SingleRatioPerSequence, "ablation: one masking ratio for the whole batch (mdm)")
	fl.StringVar(&c.Masking, "masking", c.Masking, "mdm masking: bernoulli (each token with prob 1-alpha(t), weight w(t)) or count (exactly l ~ U{1..L} tokens, weight L/l; same bound, lower variance)")
	fl.BoolVar(&c.DivideByMasked, "divide-by-masked", c.DivideByMasked, "ablation: divide by the masked count instead of B*L (mdm; not a bound)")
	fl.Float64Var(&c.Dropout, "dropout", c.Dropout, "residual dropout probability in training (0: off)")
	fl.IntVar(&c.DropoutStart, "dropout-start", c.DropoutStart, "first step with dropout (late dropout; with -resume, -dropout and -dropout-start change the rest of the run)")
	fl.IntVar(&c.AverageFrom, "average-from", c.AverageFrom, "final weights = mean of the weights after this step and every -average-every steps after it (0: off; the last weights go to model-last.ckpt)")
	fl.IntVar(&c.AverageEvery, "average-every", c.AverageEvery, "steps between averaged weights (with -average-from; 0: 100)")
	fl.StringVar(&c.Latents, "latents", c.Latents, "continuous, decoder: contextual (the encoder's hidden states; default) or embeddings (its token embeddings, the context-free ablation)")
	fl.StringVar(&c.NoiseScheduleName, "noise-schedule", c.NoiseScheduleName, "continuous, decoder: tan-d (default), cosine or sqrt")
	fl.Float64Var(&c.TanD, "tan-d", c.TanD, "continuous, decoder: d of the tan-d schedule (0: 9)")
	fl.Float64Var(&c.Prompted, "prompted", c.Prompted, "continuous: share of sequences that keep clean prompt rows (prefix and suffix) so prompts and infilling work (default 0.5)")
	fl.Float64Var(&c.DecoderTMax, "decoder-t-max", c.DecoderTMax, "decoder: trains on z_t with t ~ U[0, this] (default 0.15; 0: clean latents)")
	fl.IntVar(&c.EvalEvery, "eval-every", c.EvalEvery, "steps between validation passes (0: only at the end)")
	fl.IntVar(&c.EvalTokens, "eval-tokens", c.EvalTokens, "validation tokens per pass")
	fl.IntVar(&c.CheckpointEvery, "checkpoint-every", c.CheckpointEvery, "steps between checkpoints (also saved on SIGINT/SIGTERM)")
}

// overlay returns base with every config flag given on the command line (given, parsed)
// applied on top, and the names of those whose value differs from base's. The flags are
// configFlags' own definitions, so no config flag can be left out.
func overlay(base train.Config, given *flag.FlagSet) (train.Config, []string, error) {
	out := base
	fl := flag.NewFlagSet("overlay", flag.ContinueOnError)
	configFlags(fl, &out)
	var changed []string
	var err error
	given.Visit(func(f *flag.Flag) {
		g := fl.Lookup(f.Name)
		if g == nil || err != nil { // not a config flag
			return
		}
		if g.Value.String() != f.Value.String() {
			changed = append(changed, f.Name)
		}
		err = fl.Set(f.Name, f.Value.String())
	})
	return out, changed, err
}

// readConfig reads a -config file onto the defaults; an unknown field is an error.
func readConfig(path string) (train.Config, error) {
	c := train.Default()
	raw, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// resumable are the config flags -resume may change: the rest of the run only (the
// trainer refuses a change to steps already taken).
var resumable = map[string]bool{"steps": true, "dropout": true, "dropout-start": true, "average-from": true, "average-every": true}

// resumeRun continues the run whose checkpoint is ckpt with the config flags given: -steps
// sets a new total (the schedule stretches); -dropout, -dropout-start, -average-from and
// -average-every change the rest of the run; any other config flag must repeat the run's
// own value (scripts pass a run's starting flags again), since steps taken cannot change.
func resumeRun(ckpt string, fl *flag.FlagSet, stderr io.Writer) (*train.Trainer, error) {
	// Rank 0's checkpoint is the state of every rank: it reads the file and sends it.
	raw, err := readOnLead(ckpt)
	if err != nil {
		return nil, err
	}
	f, err := checkpoint.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ckpt, err)
	}
	tr, err := train.ResumeFile(f, ckpt, nil, 0)
	if err != nil {
		return nil, err
	}
	want, changed, err := overlay(tr.Cfg, fl)
	if err != nil {
		return nil, err
	}
	var dropout, average bool
	for _, name := range changed {
		if !resumable[name] {
			had := flag.NewFlagSet("", flag.ContinueOnError)
			c := tr.Cfg
			configFlags(had, &c)
			return nil, fmt.Errorf("-%s %s: the run in %s has %s, and a resumed run keeps its config (only -steps, -dropout, -dropout-start, -average-from and -average-every change the rest of it)",
				name, fl.Lookup(name).Value, ckpt, had.Lookup(name).Value)
		}
		dropout = dropout || strings.HasPrefix(name, "dropout")
		average = average || strings.HasPrefix(name, "average")
	}
	if want.Steps != tr.Cfg.Steps {
		c := tr.Cfg
		c.Steps = want.Steps
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("-steps: %w", err)
		}
		tr.Cfg = c
	}
	if dropout {
		if err := tr.SetDropout(want.Dropout, want.DropoutStart); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "from step %d: dropout %g from step %d (the run's config records it)\n", tr.Step, want.Dropout, want.DropoutStart)
	}
	if average {
		if err := tr.SetAverage(want.AverageFrom, want.AverageEvery); err != nil {
			return nil, err
		}
		fmt.Fprintf(stderr, "from step %d: averaging the weights from step %d every %d steps (the run's config records it)\n", tr.Step, want.AverageFrom, want.AverageEvery)
	}
	return tr, nil
}

// run is the command: it parses args, starts or resumes a run and trains it to its step
// count. SIGINT or SIGTERM saves a checkpoint and returns an error wrapping
// context.Canceled.
func run(args []string, stdout, stderr io.Writer) error {
	o, fl, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	base := train.Default()
	if o.configPath != "" {
		if base, err = readConfig(o.configPath); err != nil {
			return err
		}
	} else if obj := fl.Lookup("objective").Value.String(); obj == "continuous" || obj == "decoder" {
		base.Latents, base.NoiseScheduleName, base.TanD = "contextual", "tan-d", 9
		if obj == "continuous" {
			base.Prompted = 0.5
		} else {
			base.DecoderTMax = 0.15
		}
	}
	c, _, err := overlay(base, fl) // a new run's config (a resumed run's is in its checkpoint)
	if err != nil {
		return err
	}
	obj, err := train.ObjectiveByName(c.Objective)
	if err != nil {
		return err
	}
	c.Model.Causal = obj.Causal()
	if o.out == "" {
		o.out = filepath.Join("runs", c.Objective)
	}
	job, err := dist.Open(o.dist)
	if err != nil {
		return err // comm stays the single process: main reports the error
	}
	comm = job
	if comm.Size() > 1 {
		host, _ := os.Hostname()
		fmt.Fprintf(stderr, "dist: rank %d of %d, pid %d, host %s\n", comm.Rank(), comm.Size(), os.Getpid(), host)
		if comm.Rank() != 0 { // rank 0 speaks for the job; errors still reach main
			stdout, stderr = io.Discard, io.Discard
		}
	}
	if err := blas.Init(o.threads); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "blas: %s\n", blas.Name())

	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()

	var tr *train.Trainer
	ckpt := filepath.Join(o.out, train.CheckpointFile)
	if o.resume {
		if tr, err = resumeRun(ckpt, fl, stderr); err != nil {
			return err
		}
		c = tr.Cfg
		fmt.Fprintf(stderr, "resuming %s at step %d of %d\n", ckpt, tr.Step, c.Steps)
	} else if _, err := os.Stat(ckpt); err == nil && comm.Rank() == 0 {
		return fmt.Errorf("%s exists: pass -resume to continue that run, or choose another -out", ckpt)
	}
	ds, err := loadData(o.dataFiles, o.valFile, o.tokPath, c, tr, o.out)
	if err != nil {
		return err
	}
	if tr == nil && o.initPath != "" {
		tr, err = warmStart(o.initPath, c, ds)
		if err != nil {
			return err
		}
		c = tr.Cfg
		fmt.Fprintf(stderr, "starting from the weights of %s\n", c.Init)
	} else if tr == nil {
		c.Model.Vocab = ds.tok.Vocab()
		var sp *continuous.Space
		if sp, err = latentSpace(o, &c, ds, stderr); err != nil {
			return err
		}
		if tr, err = train.New(c, ds.tokJSON, ds.batch); err != nil {
			return err
		}
		if sp != nil {
			if err := tr.SetSpace(sp, nil); err != nil {
				return err
			}
		}
	} else {
		tr.SetBatchFunc(ds.batch)
	}
	if o.decoderPath != "" {
		if err := attachDecoder(tr, o.decoderPath); err != nil {
			return err
		}
	}
	if err := tr.SetComm(comm); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d parameters, %d training tokens, %d validation tokens, batch %dx%d, %d steps\n",
		c.Objective, c.Model.NumParams(), ds.trainTokens, len(ds.valWindows)*c.Model.SeqLen, c.Batch, c.Model.SeqLen, c.Steps)

	prog := newProgress(stderr, c.Steps, tr.Step, tr.Objective().Bound(), o.noBar)
	prog.mse = c.Objective == "continuous"
	r := &train.Runner{T: tr, Dir: o.out, ValWindows: ds.valWindows, ValPrev: ds.valPrev, LogEvery: o.logEvery,
		OnStep: prog.step, OnEval: prog.eval, OnEvalAverage: prog.evalAverage}
	start := time.Now()
	err = r.Run(ctx)
	prog.done()
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "interrupted at step %d; checkpoint saved to %s (continue with -resume -out %s)\n", tr.Step, ckpt, o.out)
		return fmt.Errorf("interrupted: %w", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps in %s; weights %s, metrics %s, plot %s\n", tr.Step, time.Since(start).Round(time.Second),
		filepath.Join(o.out, train.ModelFile), filepath.Join(o.out, train.MetricsFile), filepath.Join(o.out, train.PlotFile))
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
	case m.Cfg.Causal && !c.Model.Causal:
		// Adaptation from an autoregressive model (DiffuLLaMA, Dream): the same weights,
		// the causal mask lifted; with -shift the head still reads the previous position.
		m.Cfg.Causal = false
		m.Cfg.Shift = c.Model.Shift
	case c.Model.Shift && !m.Cfg.Shift:
		return nil, fmt.Errorf("%s: -shift applies when adapting an AR model; this masked model was trained without it", path)
	case !m.Cfg.Causal && c.Model.Causal:
		return nil, fmt.Errorf("%s: a bidirectional model cannot start an %s run", path, c.Objective)
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
