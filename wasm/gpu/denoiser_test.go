//go:build js && wasm

package gpu

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

var _ sample.Denoiser = (*Denoiser)(nil)

// logitTol bounds max |gpu - cpu| over all logits of the small random models below, whose
// logits are O(1) (they spread over about +-4).
const logitTol = 1e-3

func smallConfig(causal bool) model.Config {
	return model.Config{Vocab: 96, Dim: 64, Layers: 2, Heads: 4, Hidden: 160, SeqLen: 24,
		Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
}

// randomModel returns a CPU model with weights at a scale that keeps activations O(1)
// (matrices N(0, 1/in), norms near 1), and its tensors stored as dts says: for each
// tensor name suffix the dtype ("" for the rest, default f32). The CPU model holds the
// values the stored tensors decode to, so both paths compute with the same weights.
func randomModel(t testing.TB, cfg model.Config, seed uint64, dts map[string]checkpoint.DType) (*model.Model, []checkpoint.Tensor) {
	t.Helper()
	m, err := model.Empty(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	var tensors []checkpoint.Tensor
	for _, s := range cfg.Specs() {
		v := m.W.ByName[s.Name]
		switch {
		case len(s.Shape) == 1:
			for i := range v {
				v[i] = float32(1 + 0.2*r.NormFloat64())
			}
		case s.Name == "tok_emb":
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
		default:
			std := 1 / math.Sqrt(float64(s.Shape[1]))
			for i := range v {
				v[i] = float32(std * r.NormFloat64())
			}
		}
		dt := dts[""]
		for suf, d := range dts {
			if suf != "" && strings.HasSuffix(s.Name, suf) {
				dt = d
			}
		}
		tn := checkpoint.Tensor{Name: s.Name, Shape: s.Shape, DType: dt}
		switch dt {
		case Q8_0, Q4_0:
			b, deq := quantized(dt, v)
			copy(v, deq)
			tn.Raw = b
		case F16:
			tn.Raw = make([]byte, 2*len(v))
			quant.EncodeF16(tn.Raw, v)
			quant.DecodeF16(v, tn.Raw)
		default:
			tn.F32 = append([]float32(nil), v...)
		}
		tensors = append(tensors, tn)
	}
	return m, tensors
}

// newTestDenoiser builds a Denoiser on the tests' shared device, so the pipelines are
// compiled once for the whole package.
func newTestDenoiser(t testing.TB, cfg model.Config, tensors []checkpoint.Tensor) *Denoiser {
	t.Helper()
	return newTestDenoiserOn(t, testKernels(t), cfg, tensors)
}

// newTestDenoiserOn is newTestDenoiser on k (the shared device with a matmul kernel set).
func newTestDenoiserOn(t testing.TB, k *kernels, cfg model.Config, tensors []checkpoint.Tensor) *Denoiser {
	t.Helper()
	byName, err := checkTensors(cfg, tensors)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newOn(k, sharedInfo, cfg, byName, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// smallPair makes a random small model (randomModel) on the CPU and on the GPU, whose
// matmuls run kernel mm; the test closes the GPU's at its end.
func smallPair(t *testing.T, mm matmulKernel, causal, shift bool, seed uint64, dts map[string]checkpoint.DType) (model.Config, *model.Model, *Denoiser) {
	t.Helper()
	cfg := smallConfig(causal)
	cfg.Shift = shift
	m, tensors := randomModel(t, cfg, seed, dts)
	d := newTestDenoiserOn(t, testKernels(t).withMatmul(mm), cfg, tensors)
	t.Cleanup(d.Close)
	return cfg, m, d
}

func randIDs(r *rand.Rand, L, V int) []int32 {
	ids := make([]int32, L)
	for i := range ids {
		ids[i] = int32(r.IntN(V))
	}
	ids[0] = int32(V - 1) // MASK, as in a diffusion input
	return ids
}

func maxAbsDiff(a, b []float32) (float64, float64) {
	var d, m float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		m = math.Max(m, math.Abs(float64(b[i])))
	}
	return d, m
}

func TestForwardMatchesCPU(t *testing.T) {
	for _, c := range []struct {
		name   string
		causal bool
		dts    map[string]checkpoint.DType
		shift  bool
	}{
		{"f32", false, nil, false},
		{"f32-causal", true, nil, false},
		{"q8_0", false, map[string]checkpoint.DType{"tok_emb": Q8_0, "wq": Q8_0, "wk": Q8_0, "wv": Q8_0, "wo": Q8_0, "w1": Q8_0, "w2": Q8_0, "w3": Q8_0, "head": Q8_0}, false},
		{"q4_0", false, map[string]checkpoint.DType{"tok_emb": Q4_0, "wq": Q4_0, "wk": Q4_0, "wv": Q4_0, "wo": Q4_0, "w1": Q4_0, "w2": Q4_0, "w3": Q4_0, "head": Q4_0}, false},
		{"mixed", true, map[string]checkpoint.DType{"tok_emb": F16, "norm": F16, "wq": Q4_0, "w2": Q8_0, "head": F16}, false},
		{"q8_0-shift", false, map[string]checkpoint.DType{"tok_emb": Q8_0, "wq": Q8_0, "wk": Q8_0, "wv": Q8_0, "wo": Q8_0, "w1": Q8_0, "w2": Q8_0, "w3": Q8_0, "head": Q8_0}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, m, d := smallPair(t, registerMatmul, c.causal, c.shift, 42, c.dts)
			r := rand.New(rand.NewPCG(1, 2))
			for _, L := range []int{cfg.SeqLen, 17, 1, 17} { // 17 twice: the recorded plan is reused
				ids := randIDs(r, L, cfg.Vocab)
				want, err := m.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.Logits(ids)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("L=%d: %d logits, want %d", L, len(got), len(want))
				}
				diff, scale := maxAbsDiff(got, want)
				t.Logf("L=%d: max |gpu-cpu| logit = %.3g (logits up to %.3g)", L, diff, scale)
				if diff > logitTol || math.IsNaN(diff) {
					t.Errorf("L=%d: max |gpu-cpu| logit = %g, want <= %g", L, diff, logitTol)
				}
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	cfg := smallConfig(false)
	m, tensors := randomModel(t, cfg, 3, map[string]checkpoint.DType{"": Q8_0})
	d := newTestDenoiser(t, cfg, tensors)
	defer d.Close()
	r := rand.New(rand.NewPCG(5, 6))
	ids := randIDs(r, 20, cfg.Vocab)
	logits, err := d.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	tok, conf, ent, err := d.CandidatesEntropy(ids)
	if err != nil {
		t.Fatal(err)
	}
	// Against the reduction of the GPU's own logits: the same inputs, so the same argmax.
	wantTok, wantConf, wantEnt := refCandidates(logits, len(ids), cfg.Vocab, cfg.Vocab-1)
	for i := range ids {
		if tok[i] != wantTok[i] || tok[i] == cfg.MaskID() {
			t.Errorf("position %d: token %d, want %d", i, tok[i], wantTok[i])
		}
		if math.Abs(float64(conf[i])-wantConf[i]) > relTol*wantConf[i] {
			t.Errorf("position %d: prob %g, want %g", i, conf[i], wantConf[i])
		}
		if math.Abs(float64(ent[i])-wantEnt[i]) > 1e-4*math.Max(1, wantEnt[i]) {
			t.Errorf("position %d: entropy %g, want %g", i, ent[i], wantEnt[i])
		}
	}
	// Against the CPU model's logits: the same tokens unless two are within the error.
	cpu, err := m.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	cpuTok, _, _ := refCandidates(cpu, len(ids), cfg.Vocab, cfg.Vocab-1)
	for i := range ids {
		V := cfg.Vocab
		if tok[i] != cpuTok[i] && math.Abs(float64(cpu[i*V+int(tok[i])]-cpu[i*V+int(cpuTok[i])])) > 2*logitTol {
			t.Errorf("position %d: GPU candidate %d, CPU's %d", i, tok[i], cpuTok[i])
		}
	}
	tok2, conf2, err := d.Candidates(ids)
	if err != nil || tok2[3] != tok[3] || conf2[3] != conf[3] {
		t.Errorf("Candidates disagrees with CandidatesEntropy (err %v)", err)
	}
}

func TestNewAndErrors(t *testing.T) {
	cfg := smallConfig(false)
	m, tensors := randomModel(t, cfg, 1, nil)
	if _, err := New(cfg, tensors[1:]...); err == nil || !strings.Contains(err.Error(), "tok_emb") {
		t.Errorf("New without tok_emb: error %v, want one naming tok_emb", err)
	}
	d, err := New(cfg, tensors...) // its own device
	if errors.Is(err, webgpu.ErrNoWebGPU) {
		t.Skip("skipping: this browser has no WebGPU adapter (run in Chromium with --enable-unsafe-webgpu, see build/wasmtest.sh)")
	}
	if err != nil {
		t.Fatal(err)
	}
	ids := []int32{5, 95, 0, 7}
	got, err := d.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Logits(ids)
	if diff, _ := maxAbsDiff(got, want); diff > logitTol {
		t.Errorf("max |gpu-cpu| logit = %g, want <= %g", diff, logitTol)
	}
	if d.Vocab() != cfg.Vocab {
		t.Errorf("Vocab() = %d, want %d", d.Vocab(), cfg.Vocab)
	}
	if d.AdapterName() == "" {
		t.Error("empty AdapterName")
	}
	for _, ids := range [][]int32{nil, make([]int32, cfg.SeqLen+1), {1, 2, int32(cfg.Vocab)}, {-1}} {
		if _, err := d.Logits(ids); err == nil {
			t.Errorf("Logits(%d ids ending %v) gave no error", len(ids), ids[max(0, len(ids)-1):])
		}
		if _, _, err := d.Candidates(ids); err == nil {
			t.Errorf("Candidates(%d ids) gave no error", len(ids))
		}
	}
	// A lost device: every later call says so (once GPUDevice.lost has resolved).
	d.LoseDevice()
	time.Sleep(20 * time.Millisecond)
	if _, err := d.Logits(ids); !errors.Is(err, webgpu.ErrDeviceLost) {
		t.Errorf("Logits after the device was lost: error %v, want ErrDeviceLost", err)
	}
	d.Close()
	if _, err := d.Logits(ids); err == nil {
		t.Error("Logits after Close gave no error")
	}
}

var _ sample.BatchDenoiser = (*Denoiser)(nil)

// TestBatchLogits checks one pass over several sequences against each sequence alone on
// the GPU and against the CPU model's batched forward, for a bidirectional, a causal and a
// shifted model; then a batch too big for the buffer limit, which runs in several passes.
func TestBatchLogits(t *testing.T) {
	q8 := map[string]checkpoint.DType{"": Q8_0}
	for _, c := range []struct {
		name          string
		causal, shift bool
		dts           map[string]checkpoint.DType
		mm            matmulKernel
	}{{"f32", false, false, nil, registerMatmul}, {"f32-causal", true, false, nil, registerMatmul},
		{"q8_0-shift", false, true, q8, registerMatmul}, {"q8_0-causal-tiled", true, false, q8, tiledMatmul}} {
		t.Run(c.name, func(t *testing.T) {
			cfg, m, d := smallPair(t, c.mm, c.causal, c.shift, 21, c.dts)
			r := rand.New(rand.NewPCG(3, 4))
			V := cfg.Vocab
			for _, sh := range []shape{{3, 17}, {5, cfg.SeqLen}, {2, 1}, {3, 17}} { // {3, 17} twice: the plan is reused
				var ids []int32
				for range sh.B {
					ids = append(ids, randIDs(r, sh.L, V)...)
				}
				got, err := d.BatchLogits(ids, sh.B)
				if err != nil {
					t.Fatal(err)
				}
				got = append([]float32(nil), got...)
				want, err := m.BatchLogits(ids, sh.B)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("B=%d L=%d: %d logits, want %d", sh.B, sh.L, len(got), len(want))
				}
				if diff, _ := maxAbsDiff(got, want); diff > logitTol || math.IsNaN(diff) {
					t.Errorf("B=%d L=%d: max |gpu batch - cpu batch| logit = %g, want <= %g", sh.B, sh.L, diff, logitTol)
				}
				n := sh.L * V
				for b := range sh.B {
					alone, err := d.Logits(ids[b*sh.L : (b+1)*sh.L])
					if err != nil {
						t.Fatal(err)
					}
					if diff, _ := maxAbsDiff(got[b*n:(b+1)*n], alone); diff > logitTol || math.IsNaN(diff) {
						t.Errorf("B=%d L=%d: sequence %d's logits in the batch differ from its own by up to %g, want <= %g",
							sh.B, sh.L, b, diff, logitTol)
					}
				}
			}
			if d.stack.batch != 5 {
				t.Errorf("activations for %d sequences after batches of up to 5", d.stack.batch)
			}
			// A device that holds 2 sequences a buffer: a batch of 5 runs in 3 passes.
			ids := make([]int32, 0, 5*cfg.SeqLen)
			for range 5 {
				ids = append(ids, randIDs(r, cfg.SeqLen, V)...)
			}
			whole, err := d.BatchLogits(ids, 5)
			if err != nil {
				t.Fatal(err)
			}
			whole = append([]float32(nil), whole...)
			d.maxBytes = 2 * 4 * d.seqWords()
			split, err := d.BatchLogits(ids, 5)
			if err != nil {
				t.Fatal(err)
			}
			if diff, _ := maxAbsDiff(split, whole); diff > logitTol || math.IsNaN(diff) {
				t.Errorf("a batch of 5 in passes of 2 differs from one pass by up to %g, want <= %g", diff, logitTol)
			}
		})
	}
}

// TestBatchIsolation checks that the sequences of a batch do not see each other: one
// sequence's logits are the same (to rounding) as the first of a batch beside one sequence
// and as the second beside another.
func TestBatchIsolation(t *testing.T) {
	for _, causal := range []bool{false, true} {
		cfg := smallConfig(causal)
		_, tensors := randomModel(t, cfg, 5, nil)
		d := newTestDenoiser(t, cfg, tensors)
		r := rand.New(rand.NewPCG(7, 8))
		L, V := 20, cfg.Vocab
		a, b, c := randIDs(r, L, V), randIDs(r, L, V), randIDs(r, L, V)
		ab, err := d.BatchLogits(slices.Concat(a, b), 2)
		if err != nil {
			t.Fatal(err)
		}
		first := append([]float32(nil), ab[:L*V]...)
		ca, err := d.BatchLogits(slices.Concat(c, a), 2)
		if err != nil {
			t.Fatal(err)
		}
		if diff, _ := maxAbsDiff(ca[L*V:], first); diff > 1e-5 || math.IsNaN(diff) {
			t.Errorf("causal=%v: a sequence's logits differ by up to %g between two batches, want the same", causal, diff)
		}
		d.Close()
	}
}

// TestMatmulChoice loads a model with injected timings of its forward passes: it keeps
// the kernel whose faster pass was faster (the register one on a tie), records its passes
// with it, says so, and matches the CPU with it.
func TestMatmulChoice(t *testing.T) {
	k := testKernels(t)
	cfg := smallConfig(false)
	m, tensors := randomModel(t, cfg, 9, map[string]checkpoint.DType{"": Q8_0})
	byName, err := checkTensors(cfg, tensors)
	if err != nil {
		t.Fatal(err)
	}
	ids := randIDs(rand.New(rand.NewPCG(3, 4)), cfg.SeqLen, cfg.Vocab)
	want, err := m.Logits(ids)
	if err != nil {
		t.Fatal(err)
	}
	const ms = time.Millisecond
	for _, c := range []struct {
		passes [2][matmulPasses]time.Duration // registers', tiled's
		want   matmulKernel
	}{
		{[2][2]time.Duration{{2 * ms, 2 * ms}, {1 * ms, 1 * ms}}, tiledMatmul},
		{[2][2]time.Duration{{2 * ms, 2 * ms}, {3 * ms, 3 * ms}}, registerMatmul},
		{[2][2]time.Duration{{2 * ms, 2 * ms}, {2 * ms, 2 * ms}}, registerMatmul},
		{[2][2]time.Duration{{9 * ms, 2 * ms}, {3 * ms, 3 * ms}}, registerMatmul}, // a pause in one pass
		{[2][2]time.Duration{{2 * ms, 2 * ms}, {9 * ms, 1 * ms}}, tiledMatmul},
		// A slow pass over twice the other kernel's is not repeated (the 1 ms is never read).
		{[2][2]time.Duration{{300 * ms, 300 * ms}, {700 * ms, 1 * ms}}, registerMatmul},
	} {
		// The fake clock reads the kernel off the recorded steps, so a pass recorded with
		// the wrong kernel is timed as the other one.
		var n [2]int
		fake := func(km *kernels, steps []step) (time.Duration, error) {
			mm := usesKernel(steps)
			if mm != km.mm {
				t.Errorf("a pass timed for the %s kernel was recorded with the other", km.mm)
			}
			n[mm]++
			return c.passes[mm][n[mm]-1], nil
		}
		d, err := newOn(k, sharedInfo, cfg, byName, fake)
		if err != nil {
			t.Fatal(err)
		}
		kernel, positions, seconds := d.MatmulKernels()
		reg, tiled := min(c.passes[0][0], c.passes[0][1]), min(c.passes[1][0], c.passes[1][1])
		if n[tiledMatmul] == 1 {
			tiled = c.passes[1][0]
		}
		if kernel != c.want.String() || positions != min(cfg.SeqLen, timedPositions) || seconds["registers"] != reg.Seconds() || seconds["tiled"] != tiled.Seconds() {
			t.Errorf("passes %v: MatmulKernels() = %s, %d, %v, want %s, %d positions, registers %v and tiled %v",
				c.passes, kernel, positions, seconds, c.want, min(cfg.SeqLen, timedPositions), reg, tiled)
		}
		p, err := d.plan(shape{1, cfg.SeqLen})
		if err != nil {
			t.Fatal(err)
		}
		if got := usesKernel(p.forward); got != c.want {
			t.Errorf("passes %v: the forward pass runs the %s kernel, want %s", c.passes, got, c.want)
		}
		got, err := d.Logits(ids)
		if err != nil {
			t.Fatal(err)
		}
		if diff, _ := maxAbsDiff(got, want); diff > logitTol || math.IsNaN(diff) {
			t.Errorf("%s kernel: max |gpu-cpu| logit = %g, want <= %g", c.want, diff, logitTol)
		}
		d.Close()
	}
}

func TestBatchLogitsErrors(t *testing.T) {
	cfg := smallConfig(false)
	_, tensors := randomModel(t, cfg, 1, nil)
	d := newTestDenoiser(t, cfg, tensors)
	defer d.Close()
	for _, c := range []struct {
		ids  []int32
		B    int
		want string
	}{
		{make([]int32, 6), 0, "split"},
		{make([]int32, 7), 2, "split"},
		{nil, 2, "sequence of 0 tokens"},
		{make([]int32, 2*(cfg.SeqLen+1)), 2, "sequence of 25 tokens"},
		{[]int32{1, 2, 3, 4, 96, 5}, 2, "position 1 of sequence 1"},
	} {
		if _, err := d.BatchLogits(c.ids, c.B); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("BatchLogits(%d ids, %d): error %v, want one saying %q", len(c.ids), c.B, err, c.want)
		}
	}
}

// usesKernel is the matmul kernel of steps' matmuls (read off the pipelines' labels,
// their shader files); it panics on a mix.
func usesKernel(steps []step) matmulKernel {
	var tiled, registers bool
	for _, s := range steps {
		switch {
		case strings.Contains(s.p.Label, "matmul_tiled"):
			tiled = true
		case strings.Contains(s.p.Label, "matmul"):
			registers = true
		}
	}
	if tiled == registers {
		panic("gpu test: steps without matmuls or with both kernels")
	}
	if tiled {
		return tiledMatmul
	}
	return registerMatmul
}
