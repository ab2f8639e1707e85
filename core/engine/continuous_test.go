package engine

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// continuousRelease returns the bytes of a small untrained continuous model's release
// file with its tokenizer, and the model.
func continuousRelease(t testing.TB) ([]byte, *continuous.Model) {
	t.Helper()
	tok, err := tokenizer.Train([][]byte{[]byte(corpus)}, 300)
	if err != nil {
		t.Fatal(err)
	}
	V := tok.Vocab()
	enc, err := model.New(model.Config{Vocab: V, Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 48, RopeTheta: 10000, NormEps: 1e-5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode([]byte(corpus))
	var windows [][]int32
	for i := 0; i+16 <= len(ids); i += 16 {
		windows = append(windows, ids[i:i+16])
	}
	den := model.Config{Vocab: V, Dim: 32, Layers: 2, Heads: 2, Hidden: 64, SeqLen: 48, RopeTheta: 10000, NormEps: 1e-5, Latent: 32, Denoiser: true, SelfCond: true}
	dec := model.Config{Vocab: V, Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: 48, RopeTheta: 10000, NormEps: 1e-5, Latent: 32}
	cm, err := continuous.NewRandom(enc, den, dec, windows, 5)
	if err != nil {
		t.Fatal(err)
	}
	f, err := cm.ToFile(tok.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := checkpoint.Encode(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), cm
}

// fakeContinuousGPU is the CPU backend seen through the GPU interface, with an optional
// offset on the logits and a failure from some denoiser call on.
type fakeContinuousGPU struct {
	*continuous.CPUBackend
	offset   float32
	closed   bool
	failFrom int // denoiser calls after which the device is lost; 0: never
	calls    int
}

func (g *fakeContinuousGPU) Name() string { return "Fake GPU" }
func (g *fakeContinuousGPU) Close()       { g.closed = true }
func (g *fakeContinuousGPU) Denoise(t []float32) error {
	if g.closed {
		return errors.New("fake GPU used after Close")
	}
	if g.calls++; g.failFrom > 0 && g.calls > g.failFrom {
		return errors.New("webgpu: device lost")
	}
	return g.CPUBackend.Denoise(t)
}
func (g *fakeContinuousGPU) Logits() ([]float32, error) {
	l := slices.Clone(g.CPUBackend.Logits())
	for i := range l {
		l[i] += g.offset
	}
	return l, nil
}

func loadCont(t *testing.T, g *fakeContinuousGPU) *Engine {
	t.Helper()
	data, cm := continuousRelease(t)
	var open OpenGPU
	if g != nil {
		open = func(f *checkpoint.File, cfg model.Config) (GPU, error) {
			if !cfg.Denoiser {
				t.Errorf("the GPU was opened with the config of %+v, not the denoiser's", cfg)
			}
			g.CPUBackend = cm.CPU()
			return g, nil
		}
	}
	e, err := Load(data, open, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestContinuousCPU(t *testing.T) {
	e := loadCont(t, nil)
	info := e.Info()
	if info.Kind != "continuous" || info.Decoder == nil || !info.Config.Denoiser || info.GPU {
		t.Fatalf("info = %+v", info)
	}
	var steps []Step
	req := Request{Mode: "continue", Prompt: "It is a truth", Length: 10, Steps: 6, Seed: 3}
	out, err := e.Sample(context.Background(), req, func(s Step) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 6 || steps[5].Step != 6 || out.NFE != 6 || out.Steps != 6 || out.Tokens != 10 || len(out.IDs) != len(steps[0].States) {
		t.Fatalf("%d steps, output %+v", len(steps), out)
	}
	if !strings.HasPrefix(out.Text, "It is a truth") || out.Backend != info.CPUName {
		t.Errorf("text %q on %s", out.Text, out.Backend)
	}
	// Every step shows every position written (none masked); the prompt stays given.
	for _, s := range steps {
		n := len(s.States)
		for i, st := range s.States {
			if st == Masked || (i >= n-10) == (st == Given) {
				t.Fatalf("step %d position %d of %d: state %d", s.Step, i, n, st)
			}
		}
		if !(s.T > 0 && s.T <= 1) {
			t.Fatalf("step %d at t = %g", s.Step, s.T)
		}
	}
	// The same request writes the same text; the default steps are ContinuousSteps.
	again, err := e.Sample(context.Background(), req, nil)
	if err != nil || again.Text != out.Text {
		t.Errorf("again: %q, %v; want %q", again.Text, err, out.Text)
	}
	req.Steps = 0
	if o, err := e.Sample(context.Background(), req, nil); err != nil || o.NFE != ContinuousSteps {
		t.Errorf("default steps: %d calls, %v", o.NFE, err)
	}
	ode := req
	ode.Solver, ode.Steps = "ode", 6
	if o, err := e.Sample(context.Background(), ode, nil); err != nil || o.NFE != 6 {
		t.Errorf("ode: %+v, %v", o, err)
	}
	fill, err := e.Sample(context.Background(), Request{Mode: "infill", Prompt: "It is a ___ universally", Length: 3, Steps: 4}, nil)
	if err != nil || fill.Tokens != 3 {
		t.Errorf("infill: %+v, %v", fill, err)
	}
	for _, bad := range []Request{
		{Mode: "continue", Length: 10, Draft: "frozen"},
		{Mode: "continue", Length: 100},
		{Mode: "continue", Length: 10, Solver: "euler"},
		{Mode: "continue", Length: 10, Backend: "gpu"},
	} {
		if _, err := e.Sample(context.Background(), bad, nil); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = e.Sample(ctx, Request{Mode: "continue", Length: 10, Steps: 20}, func(s Step) {
		if s.Step == 2 {
			cancel()
		}
	})
	if !errors.Is(err, ErrCanceled) {
		t.Errorf("canceled: err = %v", err)
	}
}

func TestContinuousGPU(t *testing.T) {
	req := Request{Mode: "continue", Prompt: "It is a truth", Length: 10, Steps: 8, Seed: 3}
	cpu, err := loadCont(t, nil).Sample(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &fakeContinuousGPU{}
	e := loadCont(t, g)
	info := e.Info()
	if info.GPUName != "Fake GPU" || info.SelfTestDiff != 0 || info.GPU != (info.Backend == "Fake GPU") {
		t.Fatalf("info = %+v, want the fake GPU with a self-test difference of 0", info)
	}
	if !info.GPU {
		// The fake is the CPU model behind the GPU's interface, so on a busy machine its
		// self-test pass may take twice the CPU's and the timing rule (TestBackendChoice)
		// keeps the CPU the default: then ask for the GPU by name.
		if !strings.Contains(info.Fallback, "took") {
			t.Fatalf("info = %+v: the fake GPU passed but is not the default, and not for its timing", info)
		}
		req.Backend = "gpu"
	}
	out, err := e.Sample(context.Background(), req, nil)
	if err != nil || out.Text != cpu.Text || out.Backend != "Fake GPU" {
		t.Fatalf("GPU: %q on %s (%v), CPU %q", out.Text, out.Backend, err, cpu.Text)
	}
	// A GPU that fails midway: the sample runs again on the CPU and writes the same text.
	g.failFrom, g.calls = 3, 0
	var last Step
	out, err = e.Sample(context.Background(), req, func(s Step) { last = s })
	if err != nil || out.Text != cpu.Text || out.Backend != e.Info().CPUName || !strings.Contains(out.Fallback, "after 3 denoiser calls") ||
		last.Fallback == "" || !g.closed || e.Info().GPU {
		t.Fatalf("lost GPU: %+v, %v (closed %v)", out, err, g.closed)
	}
	// A GPU that disagrees is closed at load time.
	bad := &fakeContinuousGPU{offset: 10 * SelfTestTol}
	e = loadCont(t, bad)
	if info := e.Info(); info.GPU || !bad.closed || !strings.Contains(info.Fallback, "exceeds") {
		t.Errorf("disagreeing GPU: info %+v, closed %v", info, bad.closed)
	}
}

// A release file that refers to its encoder's file (the masked model's) loads only with
// that file's bytes: without them, or with other bytes, the error says which file.
func TestContinuousDetachedEncoder(t *testing.T) {
	data, cm := continuousRelease(t)
	f, err := checkpoint.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	if err := checkpoint.Encode(&enc, cm.Space.Net.ToFile(f.Tokenizer)); err != nil {
		t.Fatal(err)
	}
	if err := continuous.Detach(f, "austen-mdm.q8_0.ckpt", enc.Bytes()); err != nil {
		t.Fatal(err)
	}
	var rel bytes.Buffer
	if err := checkpoint.Encode(&rel, f); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(rel.Bytes(), nil, nil); err == nil || !strings.Contains(err.Error(), "austen-mdm.q8_0.ckpt") {
		t.Fatalf("without the encoder: %v", err)
	}
	if _, err := LoadWithEncoder(rel.Bytes(), data, nil, nil); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("with other bytes: %v", err)
	}
	e, err := LoadWithEncoder(rel.Bytes(), enc.Bytes(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := loadCont(t, nil)
	req := DefaultRequest()
	req.Prompt, req.Length, req.Steps, req.Seed = "It is", 8, 4, 3
	a, err := e.Sample(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ref.Sample(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Text != b.Text {
		t.Fatalf("detached %q, bundled %q", a.Text, b.Text)
	}
}
