package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

const text = clitest.Text + ` Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy
disposition, seemed to unite some of the best blessings of existence; and had lived nearly
twenty-one years in the world with very little to distress or vex her.`

// fixture writes the training and validation text and a 300-id tokenizer into a new
// folder, sends the token cache to another, and returns the folder and the flags of a
// tiny run (d=16, one layer, windows of 16 tokens, two per step) that reads them.
func fixture(t *testing.T) (dir string, flags []string) {
	t.Helper()
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir = t.TempDir()
	files := map[string][]byte{"train.txt": []byte(text), "val.txt": []byte(clitest.Text), "tokenizer.json": clitest.Tokenizer(t, text).Marshal()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, []string{"-data", filepath.Join(dir, "train.txt"), "-val", filepath.Join(dir, "val.txt"),
		"-tokenizer", filepath.Join(dir, "tokenizer.json"), "-threads", "1", "-no-progress", "-log-every", "1"}
}

// tiny is the shape and schedule of the test runs.
var tiny = []string{"-dim", "16", "-layers", "1", "-heads", "2", "-hidden", "32", "-seq-len", "16", "-batch", "2",
	"-warmup", "1", "-eval-every", "0", "-eval-tokens", "32", "-checkpoint-every", "2"}

func runArgs(args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	err = run(args, &o, &e)
	return o.String(), e.String(), err
}

func mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runArgs(args...)
	if err != nil {
		t.Fatalf("train %v: %v\n%s", args, err, stderr)
	}
	return stdout, stderr
}

// savedRun reads the config and step of the training checkpoint in out.
func savedRun(t *testing.T, out string) (train.Config, int) {
	t.Helper()
	f, err := checkpoint.Load(filepath.Join(out, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Config train.Config `json:"config"`
		Step   int          `json:"step"`
	}
	if err := json.Unmarshal(f.State, &st); err != nil {
		t.Fatal(err)
	}
	return st.Config, st.Step
}

// loggedSteps returns the steps of the training-loss lines of out's metrics.jsonl.
func loggedSteps(t *testing.T, out string) []int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, train.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r train.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		if r.Loss != nil {
			steps = append(steps, r.Step)
		}
	}
	return steps
}

func TestBadFlags(t *testing.T) {
	dir, data := fixture(t)
	badField := filepath.Join(dir, "bad.json")
	os.WriteFile(badField, []byte(`{"stepz": 3}`), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-steps", "x"}, `invalid value "x" for flag -steps`},
		{[]string{"more"}, `unexpected argument "more"`},
		{[]string{"-init", "m.ckpt", "-resume"}, "pass only one"},
		{[]string{"-config", badField, "-resume"}, "pass only one"},
		{[]string{"-config", filepath.Join(dir, "none.json")}, "none.json"},
		{[]string{"-config", badField}, badField + `: json: unknown field "stepz"`},
		{append([]string{"-resume", "-out", filepath.Join(dir, "empty")}, data...), filepath.Join(dir, "empty", train.CheckpointFile)},
		{append([]string{"-objective", "gpt", "-steps", "2", "-out", filepath.Join(dir, "o")}, append(data, tiny...)...), `objective "gpt"`},
		{append([]string{"-dropout", "1.5", "-steps", "2", "-out", filepath.Join(dir, "d")}, append(data, tiny...)...), "dropout 1.5"},
	} {
		_, stderr, err := runArgs(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("train %v: error %v, want one line with %q\n%s", tc.args, err, tc.want, stderr)
		}
	}
	_, stderr, err := runArgs("-h")
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr, "usage: train") || !strings.Contains(stderr, "-average-every") {
		t.Errorf("-h: %v\n%s", err, stderr)
	}
}

// otherValue returns a value of f's type unlike its default (one the config accepts where
// it takes a few names; 7 and 0.25 are no default's values).
func otherValue(t *testing.T, f *flag.Flag) string {
	names := map[string]string{"objective": "ar", "schedule": "cosine", "masking": "count", "latents": "embeddings", "noise-schedule": "sqrt"}
	switch v := f.Value.(flag.Getter).Get().(type) {
	case bool:
		return map[bool]string{true: "false", false: "true"}[v]
	case int, uint64:
		return "7"
	case float64:
		return "0.25"
	case string:
		return names[f.Name]
	}
	t.Fatalf("-%s: a flag of type %T", f.Name, f.Value)
	return ""
}

// TestEveryConfigFlagOverlays: each config flag, given on the command line, changes the
// config read from a file, and nothing else does.
func TestEveryConfigFlagOverlays(t *testing.T) {
	file := train.Default()
	file.Steps, file.LR, file.Seed = 11, 0.002, 9
	all, fc := flag.NewFlagSet("", flag.ContinueOnError), file
	configFlags(all, &fc) // defaults: the file's values
	n := 0
	all.VisitAll(func(f *flag.Flag) {
		n++
		_, fl, err := parseFlags([]string{"-" + f.Name + "=" + otherValue(t, f), "-out", "x"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		got, changed, err := overlay(file, fl)
		if err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(got, file) || !slices.Equal(changed, []string{f.Name}) {
			t.Errorf("-%s=%s: config unchanged or changed %v", f.Name, otherValue(t, f), changed)
		}
		// Back to the file's value, field by field: only the flag's field differed.
		back, _, _ := overlay(got, flagsOf(t, "-"+f.Name+"="+valueIn(file, f.Name)))
		if !reflect.DeepEqual(back, file) {
			t.Errorf("-%s changed more than its own field:\n%+v\n%+v", f.Name, back, file)
		}
	})
	if n < 33 {
		t.Errorf("%d config flags, want every one of train.Config's 33 command-line fields", n)
	}
	_, fl, _ := parseFlags([]string{"-out", "x", "-threads", "3", "-no-progress"}, &bytes.Buffer{})
	if got, changed, _ := overlay(file, fl); !reflect.DeepEqual(got, file) || len(changed) > 0 {
		t.Errorf("options that are not config flags changed the config: %v", changed)
	}
}

// flagsOf parses args as the command line does.
func flagsOf(t *testing.T, args ...string) *flag.FlagSet {
	t.Helper()
	_, fl, err := parseFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	return fl
}

// valueIn is the command-line form of config c's value of the flag name.
func valueIn(c train.Config, name string) string {
	fl := flag.NewFlagSet("", flag.ContinueOnError)
	configFlags(fl, &c)
	return fl.Lookup(name).Value.String()
}

// TestConfigFileAndFlags: flags given with -config override the file, dropout and tail
// averaging among them (they were once silently dropped), and the run records them.
func TestConfigFileAndFlags(t *testing.T) {
	dir, data := fixture(t)
	cfg := filepath.Join(dir, "run.json")
	os.WriteFile(cfg, []byte(`{"objective":"mdm","model":{"dim":16,"layers":1,"heads":2,"hidden":32,"seq_len":16,"rope_theta":10000,"norm_eps":1e-5},
		"batch":2,"steps":4,"lr":0.002,"min_lr":0.0002,"warmup":1,"schedule":"linear","seed":3,"eval_every":0,"eval_tokens":32,"checkpoint_every":2}`), 0o644)
	out := filepath.Join(dir, "run")
	mustRun(t, append([]string{"-config", cfg, "-out", out, "-lr", "0.003", "-dropout", "0.1", "-dropout-start", "1",
		"-average-from", "2", "-average-every", "1"}, data...)...)
	c, step := savedRun(t, out)
	if c.Dropout != 0.1 || c.DropoutStart != 1 || c.AverageFrom != 2 || c.AverageEvery != 1 || c.LR != 0.003 {
		t.Errorf("flags lost: dropout %v from %d, average from %d every %d, lr %v", c.Dropout, c.DropoutStart, c.AverageFrom, c.AverageEvery, c.LR)
	}
	if step != 4 || c.Steps != 4 || c.MinLR != 0.0002 || c.Seed != 3 || c.Model.Dim != 16 || c.Batch != 2 {
		t.Errorf("file values lost: step %d of %d, min_lr %v, seed %d, dim %d, batch %d", step, c.Steps, c.MinLR, c.Seed, c.Model.Dim, c.Batch)
	}
	if _, err := os.Stat(filepath.Join(out, train.LastModelFile)); err != nil {
		t.Errorf("averaging was on, but: %v", err)
	}
}

// TestRunAndResume: a tiny run writes its files; -resume -steps extends it without
// repeating a step; a resumed run accepts its own starting flags again (as
// build/ablations.sh passes them), changes dropout for the rest of the run, and refuses
// to change what the steps taken were trained with.
func TestRunAndResume(t *testing.T) {
	dir, data := fixture(t)
	out := filepath.Join(dir, "run")
	start := append(append([]string{"-out", out, "-steps", "3", "-seed", "5"}, tiny...), data...)
	stdout, stderr := mustRun(t, start...)
	if !strings.HasPrefix(stderr, "blas: ") || !strings.Contains(stdout, "done: 3 steps") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}
	for _, f := range []string{train.CheckpointFile, train.ModelFile, train.MetricsFile, train.PlotFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := runArgs(start...); err == nil || !strings.Contains(err.Error(), "pass -resume") {
		t.Errorf("a second new run in the same folder: %v", err)
	}

	mustRun(t, append([]string{"-resume", "-out", out, "-steps", "5"}, data...)...)
	if c, step := savedRun(t, out); step != 5 || c.Steps != 5 || c.Seed != 5 {
		t.Errorf("after -resume -steps 5: step %d of %d, seed %d", step, c.Steps, c.Seed)
	}
	if got := loggedSteps(t, out); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Errorf("logged steps %v", got)
	}

	_, _, err := runArgs(append(start, "-resume", "-lr", "0.5")...)
	if err == nil || !strings.Contains(err.Error(), "-lr 0.5: the run in") || !strings.Contains(err.Error(), "has 0.001") {
		t.Errorf("-resume -lr 0.5: %v", err)
	}
	mustRun(t, append(slices.Clip(start), "-resume", "-steps", "6", "-dropout", "0.2", "-dropout-start", "5")...)
	if c, step := savedRun(t, out); step != 6 || c.Dropout != 0.2 || c.DropoutStart != 5 || c.Model.Dim != 16 {
		t.Errorf("after -resume -dropout 0.2 -dropout-start 5: step %d, dropout %v from %d", step, c.Dropout, c.DropoutStart)
	}
	if _, _, err := runArgs(append(slices.Clip(start), "-resume", "-dropout", "0.3", "-dropout-start", "1")...); err == nil || !strings.Contains(err.Error(), "steps taken cannot change") {
		t.Errorf("dropout rewriting steps taken: %v", err)
	}
}

// The continuous paradigm through the command: a decoder run and a denoiser run on the
// latents of a masked model file (-encoder), the decoder attached to the denoiser's files
// (-decoder, also on -resume), whose model file then samples; a decoder trained on another
// encoder and an autoregressive encoder are refused.
func TestContinuousRuns(t *testing.T) {
	dir, data := fixture(t)
	tok := clitest.Tokenizer(t, text)
	enc := clitest.Model(t, dir, "enc.ckpt", false, tok, 16)
	latent := append(append([]string{"-encoder", enc, "-steps", "3", "-seed", "5"}, tiny...), data...)
	decOut, denOut := filepath.Join(dir, "dec"), filepath.Join(dir, "den")
	stdout, _ := mustRun(t, append([]string{"-objective", "decoder", "-out", decOut}, latent...)...)
	if !strings.Contains(stdout, "done: 3 steps") {
		t.Fatalf("decoder run: %s", stdout)
	}
	_, stderr := mustRun(t, append([]string{"-objective", "continuous", "-out", denOut}, latent...)...)
	if !strings.Contains(stderr, "validation MSE") {
		t.Errorf("the denoiser's validation is not reported as an MSE:\n%s", stderr)
	}
	if _, err := continuous.Open(mustLoad(t, filepath.Join(denOut, train.ModelFile))); err == nil {
		t.Fatal("a denoiser without a decoder opened")
	}
	mustRun(t, append([]string{"-out", denOut, "-resume", "-decoder", filepath.Join(decOut, train.ModelFile)}, data...)...)
	if _, err := continuous.Open(mustLoad(t, filepath.Join(denOut, train.ModelFile))); err != nil {
		t.Fatalf("after -decoder: %v", err)
	}
	other := clitest.Model(t, t.TempDir(), "other.ckpt", false, tok, 16)
	of := mustLoad(t, other) // the fixture's weights, changed: another encoder
	of.Tensors[0].F32[0] += 1
	if err := checkpoint.Save(other, of); err != nil {
		t.Fatal(err)
	}
	otherDec := filepath.Join(dir, "dec2")
	mustRun(t, append([]string{"-objective", "decoder", "-out", otherDec, "-encoder", other, "-steps", "2"}, append(tiny, data...)...)...)
	ar := clitest.Model(t, dir, "ar.ckpt", true, tok, 16)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-out", denOut, "-resume", "-decoder", filepath.Join(otherDec, train.ModelFile)}, "another encoder"},
		{append([]string{"-objective", "continuous", "-out", filepath.Join(dir, "x"), "-encoder", ar, "-steps", "2"}, tiny...), "bidirectional"},
		{[]string{"-out", decOut, "-resume", "-decoder", filepath.Join(decOut, train.ModelFile)}, "-decoder is for"},
	} {
		_, _, err := runArgs(append(tc.args, data...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

func mustLoad(t *testing.T, path string) *checkpoint.File {
	t.Helper()
	f, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
