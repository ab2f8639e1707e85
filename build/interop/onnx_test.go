package interop

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/onnx"
)

// onnxTolerance is the largest max-abs logit difference accepted between onnxruntime and
// model.Forward (both f32; they differ only in the order of summation).
const onnxTolerance = 1e-4

type onnxCase struct {
	Name   string    `json:"name"`
	Batch  int       `json:"batch"`
	Seq    int       `json:"seq"`
	IDs    []int64   `json:"ids"`
	Logits []float32 `json:"logits"`
}

type onnxResult struct {
	Inputs, Outputs []struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Shape []any  `json:"shape"`
	}
	Cases []struct {
		Name       string   `json:"name"`
		Dims       []int    `json:"dims"`
		MaxAbsDiff float64  `json:"maxAbsDiff"`
		MedianMs   *float64 `json:"medianMs"`
	}
}

// onnxModel is a small model with weights drawn at unit scale: model.New's 0.02 leaves
// attention nearly uniform and the logits tiny, where a wrong rotation or mask would
// hide under the tolerance.
func onnxModel(t *testing.T, cfg model.Config) *model.Model {
	t.Helper()
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, uint64(len(m.Params))))
	for _, s := range cfg.Specs() {
		w := m.W.ByName[s.Name]
		for i := range w {
			if len(s.Shape) == 1 {
				w[i] = float32(1 + 0.2*r.NormFloat64())
			} else {
				w[i] = float32(r.NormFloat64() / math.Sqrt(float64(s.Shape[1])))
			}
		}
	}
	return m
}

// onnxNewCase makes B sequences of L random ids (a third of them MASK) and the Go logits.
func onnxNewCase(m *model.Model, name string, B, L int, seed uint64) onnxCase {
	r := rand.New(rand.NewPCG(seed, 3))
	ids := make([]int32, B*L)
	for i := range ids {
		ids[i] = int32(r.IntN(m.Cfg.Vocab - 1))
		if r.IntN(3) == 0 {
			ids[i] = m.Cfg.MaskID()
		}
	}
	c := onnxCase{Name: name, Batch: B, Seq: L, Logits: slices.Clone(m.Forward(ids, B))}
	for _, id := range ids {
		c.IDs = append(c.IDs, int64(id))
	}
	return c
}

// onnxRun exports m, runs cases through onnx.mjs in a session made with options (nil:
// onnxruntime's defaults), each timed repeat times, and returns what the script printed.
func onnxRun(t *testing.T, m *model.Model, cases []onnxCase, repeat int, options map[string]any) onnxResult {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnx.Write(f, m); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(map[string]any{"model": path, "options": options, "repeat": repeat, "cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(specPath, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	var res onnxResult
	out := runNode(t, "onnx.mjs", specPath)
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("onnx.mjs printed %q: %v", out, err)
	}
	if len(res.Cases) != len(cases) {
		t.Fatalf("onnx.mjs ran %d cases, want %d", len(res.Cases), len(cases))
	}
	return res
}

func TestONNXLogitsMatchGo(t *testing.T) {
	base := model.Config{Vocab: 67, Dim: 32, Layers: 2, Heads: 4, Hidden: 80, SeqLen: 24, RopeTheta: 10000, NormEps: 1e-5}
	shift, causal := base, base
	shift.Shift = true
	causal.Causal = true
	for _, tc := range []struct {
		name string
		cfg  model.Config
	}{{"masked", base}, {"masked-shift", shift}, {"causal", causal}} {
		t.Run(tc.name, func(t *testing.T) {
			m := onnxModel(t, tc.cfg)
			cases := []onnxCase{
				onnxNewCase(m, "B2xL7", 2, 7, 1),
				onnxNewCase(m, "B1xL24", 1, tc.cfg.SeqLen, 2),
				onnxNewCase(m, "B2xL1", 2, 1, 3),
			}
			res := onnxRun(t, m, cases, 0, nil)
			for i, c := range res.Cases {
				want := []int{cases[i].Batch, cases[i].Seq, tc.cfg.Vocab}
				if !slices.Equal(c.Dims, want) {
					t.Errorf("%s: logits dims %v, want %v", c.Name, c.Dims, want)
				}
				t.Logf("%s: max abs difference %.3g", c.Name, c.MaxAbsDiff)
				if !(c.MaxAbsDiff <= onnxTolerance) {
					t.Errorf("%s: onnxruntime's logits differ from Go's by up to %g (> %g)", c.Name, c.MaxAbsDiff, onnxTolerance)
				}
			}
			in, out := res.Inputs, res.Outputs
			if len(in) != 1 || in[0].Name != "input_ids" || in[0].Type != "int64" || !slices.Equal(in[0].Shape, []any{"batch", "seq"}) {
				t.Errorf("inputs %+v, want input_ids int64 [batch seq]", in)
			}
			if len(out) != 1 || out[0].Name != "logits" || out[0].Type != "float32" || !slices.Equal(out[0].Shape, []any{"batch", "seq", float64(tc.cfg.Vocab)}) {
				t.Errorf("outputs %+v, want logits float32 [batch seq %d]", out, tc.cfg.Vocab)
			}
		})
	}
}

// TestONNXRelease checks a real checkpoint and times both engines on one 128-token
// sequence (or SeqLen, if shorter). It runs only when TDIFF_ONNX_CKPT names the file:
//
//	TDIFF_ONNX_CKPT=$PWD/weights/austen-mdm.f32.ckpt go test -run ONNXRelease -v ./build/interop
//
// The engines are timed on one thread each, and on all cores: onnxruntime with its
// defaults, whose worker threads spin while they wait, and with spinning off, which
// matters on a machine shared with other work. model.Forward is timed before and after
// each onnxruntime run, so drift in the machine's load falls on both sides.
func TestONNXRelease(t *testing.T) {
	path := os.Getenv("TDIFF_ONNX_CKPT")
	if path == "" {
		t.Skip("TDIFF_ONNX_CKPT is not set")
	}
	if err := blas.Init(0); err != nil {
		t.Fatal(err)
	}
	m, _, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	L := min(128, m.Cfg.SeqLen)
	c := onnxNewCase(m, "release", 1, L, 4)
	ids := make([]int32, len(c.IDs))
	for i, id := range c.IDs {
		ids[i] = int32(id)
	}
	const repeat = 20
	cores := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(cores)
	defer blas.Init(0)
	noSpin := map[string]any{"allow_spinning": "0"}
	for _, run := range []struct {
		name    string
		threads int
		options map[string]any
	}{
		{"1 thread", 1, map[string]any{"intraOpNumThreads": 1}},
		{"all cores, onnxruntime's defaults", cores, nil},
		{"all cores, onnxruntime's spinning off", cores, map[string]any{"extra": map[string]any{"session": map[string]any{"intra_op": noSpin}}}},
	} {
		runtime.GOMAXPROCS(run.threads)
		if err := blas.Init(run.threads); err != nil {
			t.Fatal(err)
		}
		var goMs []float64
		timeGo := func() {
			for range repeat {
				t0 := time.Now()
				m.Forward(ids, 1)
				goMs = append(goMs, float64(time.Since(t0).Microseconds())/1e3)
			}
		}
		timeGo()
		r := onnxRun(t, m, []onnxCase{c}, repeat, run.options).Cases[0]
		timeGo()
		sort.Float64s(goMs)
		g := goMs[len(goMs)/2]
		t.Logf("%s, %d tokens, %s: max abs difference %.3g; median forward onnxruntime-node %.2f ms, model.Forward (%s) %.2f ms, ratio %.2f",
			path, L, run.name, r.MaxAbsDiff, *r.MedianMs, blas.Name(), g, *r.MedianMs/g)
		if !(r.MaxAbsDiff <= onnxTolerance) {
			t.Errorf("%s: onnxruntime's logits differ from Go's by up to %g (> %g)", run.name, r.MaxAbsDiff, onnxTolerance)
		}
	}
}
