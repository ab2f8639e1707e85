package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

func tinyConfig(objective string) Config {
	c := Default()
	c.Model = model.Config{Vocab: 40, Dim: 16, Layers: 2, Heads: 2, Hidden: 32, SeqLen: 12, RopeTheta: 10000, NormEps: 1e-5, Causal: objective == "ar"}
	c.Objective, c.Batch, c.Steps, c.Warmup, c.LR = objective, 4, 12, 3, 3e-3
	c.EvalEvery, c.CheckpointEvery = 5, 4
	return c
}

// stream is a toy corpus with structure to learn: a repeating pattern with noise.
func stream(n int) []int32 {
	rng := rand.New(rand.NewPCG(5, 5))
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(i % 7)
		if rng.IntN(5) == 0 {
			s[i] = int32(7 + rng.IntN(30))
		}
	}
	return s
}

func windowBatch(s []int32) BatchFunc {
	return func(step int, dst []int32, B, n int) {
		rng := rand.New(rand.NewPCG(uint64(step), 77))
		for b := 0; b < B; b++ {
			o := rng.IntN(len(s) - n)
			copy(dst[b*n:(b+1)*n], s[o:o+n])
		}
	}
}

// saveAndResume writes tr's checkpoint and resumes a new trainer from it.
func saveAndResume(t *testing.T, tr *Trainer, s []int32) *Trainer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ck.ckpt")
	if err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	res, err := Resume(path, windowBatch(s), 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestResumeIsExact: an interrupted-and-resumed run's losses equal an uninterrupted run's,
// bit for bit, for both objectives.
func TestResumeIsExact(t *testing.T) {
	for _, obj := range []string{"mdm", "mdm-count", "mdm-dropout", "ar"} {
		cfg := tinyConfig(strings.TrimSuffix(strings.TrimSuffix(obj, "-count"), "-dropout"))
		if strings.HasSuffix(obj, "-count") {
			cfg.Masking = "count"
		}
		if strings.HasSuffix(obj, "-dropout") {
			cfg.Dropout, cfg.DropoutStart = 0.2, 3
		}
		s := stream(5000)
		full, err := New(cfg, nil, windowBatch(s))
		if err != nil {
			t.Fatal(err)
		}
		var want []float64
		for i := 0; i < 12; i++ {
			want = append(want, full.TrainStep().Loss)
		}
		part, _ := New(cfg, nil, windowBatch(s))
		var got []float64
		for i := 0; i < 5; i++ {
			got = append(got, part.TrainStep().Loss)
		}
		res := saveAndResume(t, part, s)
		for res.Step < 12 {
			got = append(got, res.TrainStep().Loss)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: step %d loss %v after resume, %v uninterrupted", obj, i+1, got[i], want[i])
			}
		}
		if obj == "ar" && !(want[11] < want[0]) { // the mdm loss is too noisy over 12 steps
			t.Fatalf("%s: loss did not fall: %v", obj, want)
		}
	}
}

// TestRunnerInterrupt: cancelling a run saves a checkpoint; resuming finishes it and
// writes the final model, the metrics log and the plot.
func TestRunnerInterrupt(t *testing.T) {
	dir := t.TempDir()
	s := stream(5000)
	tr, _ := New(tinyConfig("mdm"), []byte(`{}`), windowBatch(s))
	val := [][]int32{s[:12], s[12:24], s[24:36]}
	prev := []int32{38, s[11], s[23]}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{T: tr, Dir: dir, ValWindows: val, ValPrev: prev, LogEvery: 1,
		OnStep: func(st Stats, _ float64) {
			if st.Step == 6 {
				cancel()
			}
		}}
	if err := r.Run(ctx); err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	res, err := Resume(filepath.Join(dir, CheckpointFile), windowBatch(s), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Step != 6 {
		t.Fatalf("resumed at step %d, want 6", res.Step)
	}
	r2 := &Runner{T: res, Dir: dir, ValWindows: val, ValPrev: prev, LogEvery: 1}
	if err := r2.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{ModelFile, MetricsFile, PlotFile, CheckpointFile} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s missing after the run: %v", f, err)
		}
	}
	recs, _ := readMetrics(filepath.Join(dir, MetricsFile), 1<<30)
	steps := map[int]int{}
	for _, r := range recs {
		if r.Loss != nil {
			steps[r.Step]++
		}
	}
	for i := 1; i <= 12; i++ {
		if steps[i] != 1 {
			t.Fatalf("metrics: step %d logged %d times", i, steps[i])
		}
	}
	m, _, err := model.Load(filepath.Join(dir, ModelFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range m.Params {
		if v != res.Model.Params[i] {
			t.Fatal("saved model differs from the trained weights")
		}
	}

	// Resuming the finished run (train-demo.sh run again) trains nothing and logs nothing:
	// the final evaluation stays a single record.
	done, err := Resume(filepath.Join(dir, CheckpointFile), windowBatch(s), 0)
	if err != nil {
		t.Fatal(err)
	}
	r3 := &Runner{T: done, Dir: dir, ValWindows: val, ValPrev: prev, LogEvery: 1}
	if err := r3.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, _ := readMetrics(filepath.Join(dir, MetricsFile), 1<<30)
	if len(again) != len(recs) {
		t.Fatalf("resuming the finished run: %d metric records, want the %d it had", len(again), len(recs))
	}
	if done.Step != 12 {
		t.Fatalf("resuming the finished run took it to step %d", done.Step)
	}
}

func TestValidateUniformAR(t *testing.T) {
	// With every weight zero the logits are zero: each next token costs exactly log V.
	tr, _ := New(tinyConfig("ar"), nil, windowBatch(stream(100)))
	clear(tr.Model.Params)
	s := stream(100)
	got := tr.Validate([][]int32{s[:12], s[12:24]}, []int32{38, s[11]})
	if want := math.Log(float64(tr.Cfg.Model.Vocab)); math.Abs(got-want) > 1e-6 {
		t.Fatalf("uniform model validation %v, want %v", got, want)
	}
}

// TestNewFrom: a warm start begins at the given weights with a fresh optimizer, and refuses
// weights of another architecture; an AR model's weights can start a masked diffusion run.
func TestNewFrom(t *testing.T) {
	s := stream(5000)
	ar, _ := New(tinyConfig("ar"), nil, windowBatch(s))
	for range 3 {
		ar.TrainStep()
	}
	m, err := model.Empty(ar.Cfg.Model)
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Params, ar.Model.Params)
	m.Cfg.Causal = false
	c := tinyConfig("mdm")
	c.Masking = "count"
	tr, err := NewFrom(c, m, nil, windowBatch(s))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Step != 0 || tr.Opt.Step != 0 {
		t.Fatalf("warm start at step %d (adam %d), want 0", tr.Step, tr.Opt.Step)
	}
	for i, v := range tr.Model.Params {
		if v != ar.Model.Params[i] {
			t.Fatal("warm start does not begin at the given weights")
		}
	}
	if st := tr.TrainStep(); math.IsNaN(st.Loss) || st.Loss <= 0 {
		t.Fatalf("first warm-started step: loss %v", st.Loss)
	}
	bad := c
	bad.Model.Dim = 32
	bad.Model.Hidden = 64
	if _, err := NewFrom(bad, m, nil, windowBatch(s)); err == nil {
		t.Fatal("NewFrom accepted weights of another width")
	}
	c.Masking = "nonsense"
	if _, err := NewFrom(c, m, nil, windowBatch(s)); err == nil || !strings.Contains(err.Error(), "masking") {
		t.Fatalf("bad masking accepted: %v", err)
	}
}

// TestLateDropout: a run without dropout that turns it on when resumed at step k equals,
// bit for bit, the run configured with dropout from step k; the steps before k equal the
// run without dropout and the ones after differ from it; and dropout cannot be moved
// before the step a run has reached.
func TestLateDropout(t *testing.T) {
	s := stream(5000)
	plainCfg := tinyConfig("mdm")
	lateCfg := plainCfg
	lateCfg.Dropout, lateCfg.DropoutStart = 0.2, 5
	losses := func(tr *Trainer, n int) []float64 {
		var l []float64
		for tr.Step < n {
			l = append(l, tr.TrainStep().Loss)
		}
		return l
	}
	plain, _ := New(plainCfg, nil, windowBatch(s))
	late, _ := New(lateCfg, nil, windowBatch(s))
	want, noDrop := losses(late, 10), losses(plain, 10)

	part, _ := New(plainCfg, nil, windowBatch(s))
	got := losses(part, 5)
	res := saveAndResume(t, part, s)
	if err := res.SetDropout(0.2, 3); err == nil {
		t.Fatal("SetDropout moved dropout before the current step")
	}
	if err := res.SetDropout(1, 5); err == nil {
		t.Fatal("SetDropout accepted probability 1")
	}
	if err := res.SetDropout(0.2, 5); err != nil {
		t.Fatal(err)
	}
	got = append(got, losses(res, 10)...)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: loss %v with dropout turned on at resume, %v configured from the start", i+1, got[i], want[i])
		}
		if (i < 5) != (want[i] == noDrop[i]) {
			t.Fatalf("step %d: loss %v with dropout from step 5, %v without", i+1, want[i], noDrop[i])
		}
	}
}

// TestTailAverage: the averaged weights are the mean of the weights after steps
// AverageFrom, +AverageEvery, ...; a run interrupted after the average has started, or
// one that turns averaging on when resumed before it starts, ends with the same average
// to the bit; and the runner writes the average as the model and keeps the last weights.
func TestTailAverage(t *testing.T) {
	s := stream(5000)
	cfg := tinyConfig("mdm")
	cfg.AverageFrom, cfg.AverageEvery = 6, 2
	ref, _ := New(cfg, nil, windowBatch(s))
	want := make([]float32, len(ref.Model.Params))
	for ref.Step < cfg.Steps {
		ref.TrainStep()
		if ref.Step >= 6 && ref.Step%2 == 0 {
			for i, v := range ref.Model.Params {
				want[i] += v
			}
		}
	}
	avg := ref.Averaged()
	if ref.AvgN != 4 || avg == nil {
		t.Fatalf("averaged %d weights, want 4 (steps 6, 8, 10, 12)", ref.AvgN)
	}
	same := func(name string, got []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i]/4 {
				t.Fatalf("%s: weight %d is %v, want %v", name, i, got[i], want[i]/4)
			}
		}
	}
	same("uninterrupted", avg.Params)

	dir := t.TempDir()
	for _, stop := range []int{5, 7} {
		c := cfg
		if stop == 5 {
			c.AverageFrom, c.AverageEvery = 0, 0
		}
		part, _ := New(c, nil, windowBatch(s))
		for part.Step < stop {
			part.TrainStep()
		}
		res := saveAndResume(t, part, s)
		if stop == 5 {
			if err := res.SetAverage(4, 2); err == nil {
				t.Fatal("SetAverage started an average before the current step")
			}
			if err := res.SetAverage(6, 2); err != nil {
				t.Fatal(err)
			}
		} else if err := res.SetAverage(8, 2); err == nil {
			t.Fatal("SetAverage changed an average already begun")
		}
		r := &Runner{T: res, Dir: filepath.Join(dir, "run"), ValWindows: [][]int32{s[:12]}, ValPrev: []int32{38}}
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		same(fmt.Sprintf("stopped at %d", stop), res.Averaged().Params)
		m, _, err := model.Load(filepath.Join(dir, "run", ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		same("model file", m.Params)
		last, _, err := model.Load(filepath.Join(dir, "run", LastModelFile))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range last.Params {
			if v != ref.Model.Params[i] {
				t.Fatal("the last-weights file differs from the last weights")
			}
		}
		os.RemoveAll(filepath.Join(dir, "run"))
	}
}
