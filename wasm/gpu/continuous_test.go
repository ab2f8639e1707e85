//go:build js && wasm

package gpu

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

var _ engine.ContinuousGPU = gpuContinuous{}

// gpuContinuous is Continuous as the engine sees it (wasm/gpu.go has the page's own).
type gpuContinuous struct{ *Continuous }

func (g gpuContinuous) Name() string { return g.AdapterName() }

// latentTol bounds max |gpu - cpu| over the estimates (O(1): normalised latents) and the
// decoder's logits of the small random models below, as logitTol does for the masked model.
const latentTol = 1e-3

// randomContinuous is a small untrained continuous model with weights at a scale that
// keeps activations O(1) (matrices N(0, 1/in), norms near 1, biases near 0), its release
// file with the denoiser's and decoder's matrices stored as dt, and the CPU model read
// back from that file (so both paths compute with the same dequantised weights).
func randomContinuous(t *testing.T, selfCond bool, dt checkpoint.DType) (*continuous.Model, *checkpoint.File) {
	t.Helper()
	const V, Z, L = 96, 32, 24
	enc, err := model.New(model.Config{Vocab: V, Dim: Z, Layers: 1, Heads: 2, Hidden: 64, SeqLen: L, RopeTheta: 10000, NormEps: 1e-5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	windows := make([][]int32, 8)
	for i := range windows {
		windows[i] = randIDs(r, L, V-2)
	}
	den := model.Config{Vocab: V, Dim: 64, Layers: 2, Heads: 4, Hidden: 96, SeqLen: L, RopeTheta: 10000, NormEps: 1e-5, Latent: Z, Denoiser: true, SelfCond: selfCond}
	dec := model.Config{Vocab: V, Dim: 32, Layers: 1, Heads: 2, Hidden: 64, SeqLen: L, RopeTheta: 10000, NormEps: 1e-5, Latent: Z}
	cm, err := continuous.NewRandom(enc, den, dec, windows, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*model.Model{cm.Denoiser, cm.Decoder} {
		for _, s := range m.Cfg.Specs() {
			v := m.W.ByName[s.Name]
			for i := range v {
				switch {
				case strings.HasPrefix(s.Name, "time_b") || s.Name == "out_bias":
					v[i] = float32(0.1 * r.NormFloat64())
				case len(s.Shape) == 1:
					v[i] = float32(1 + 0.2*r.NormFloat64())
				default:
					v[i] = float32(r.NormFloat64() / math.Sqrt(float64(s.Shape[1])))
				}
			}
		}
	}
	f, err := cm.ToFile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if dt != checkpoint.F32 {
		for i, tn := range f.Tensors {
			if len(tn.Shape) == 2 && !strings.HasPrefix(tn.Name, "encoder.") {
				raw, _ := quantized(dt, tn.F32)
				f.Tensors[i].DType, f.Tensors[i].Raw, f.Tensors[i].F32 = dt, raw, nil
			}
		}
	}
	back, err := continuous.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	return back, f
}

func newTestContinuous(t *testing.T, f *checkpoint.File) *Continuous {
	t.Helper()
	k := testKernels(t)
	den, dec, byName, err := continuousTensors(f)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newContinuousOn(k, sharedInfo, den, dec, byName, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestContinuousMatchesCPU runs each backend call on the GPU and on the CPU from the same
// state: the estimates, the decoder's logits and its tokens agree.
func TestContinuousMatchesCPU(t *testing.T) {
	for _, c := range []struct {
		name     string
		selfCond bool
		dt       checkpoint.DType
	}{{"f32", true, checkpoint.F32}, {"f32-no-selfcond", false, checkpoint.F32}, {"q8_0", true, Q8_0}} {
		t.Run(c.name, func(t *testing.T) {
			cm, f := randomContinuous(t, c.selfCond, c.dt)
			g := newTestContinuous(t, f)
			defer g.Close()
			cpu := cm.CPU()
			r := rand.New(rand.NewPCG(9, 9))
			Z := cm.Space.D()
			for _, L := range []int{24, 13, 13} { // 13 twice: the recorded plan is reused
				known := make([]bool, L)
				tt := make([]float32, L)
				ids := randIDs(r, L, cm.Decoder.Cfg.Vocab-2)
				for i := range known {
					known[i] = i%4 == 1
					if !known[i] {
						tt[i] = float32(r.Float64())
					}
				}
				clean := make([]float32, L*Z)
				cm.Space.Encode(clean, ids, 1)
				z, noise := randVec(r, L*Z, 1), randVec(r, L*Z, 1)
				for _, b := range []continuous.Backend{cpu, g} {
					if err := b.Begin(z, clean, known); err != nil {
						t.Fatal(err)
					}
				}
				check := func(what string) {
					t.Helper()
					want, _ := cpu.Estimate()
					got, err := g.Estimate()
					if err != nil {
						t.Fatal(err)
					}
					diff, scale := maxAbsDiff(got, want)
					t.Logf("L=%d %s: max |gpu-cpu| = %.3g (values up to %.3g)", L, what, diff, scale)
					if !(diff <= latentTol) {
						t.Errorf("L=%d %s: max |gpu-cpu| = %g, want <= %g", L, what, diff, latentTol)
					}
					for i, k := range known {
						if k && !slices.Equal(got[i*Z:(i+1)*Z], clean[i*Z:(i+1)*Z]) {
							t.Fatalf("L=%d %s: known row %d not held", L, what, i)
						}
					}
				}
				for _, b := range []continuous.Backend{cpu, g} {
					if err := b.Denoise(tt); err != nil {
						t.Fatal(err)
					}
				}
				check("first estimate")
				// An SDE-like update, then a self-conditioned call; then an ODE-like one.
				for _, u := range [][3]float32{{0.3, 0.9, 0.2}, {0.5, 0.7, 0}} {
					for _, b := range []continuous.Backend{cpu, g} {
						if err := b.Update(u[0], u[1], u[2], noise); err != nil {
							t.Fatal(err)
						}
						if err := b.Denoise(tt); err != nil {
							t.Fatal(err)
						}
					}
					check("after an update")
				}
				want := slices.Clone(cpu.Logits())
				got, err := g.Logits()
				if err != nil {
					t.Fatal(err)
				}
				if diff, scale := maxAbsDiff(got, want); !(diff <= latentTol) {
					t.Errorf("L=%d: max |gpu-cpu| logit = %g (up to %g), want <= %g", L, diff, scale, latentTol)
				}
				gt, err := g.Tokens()
				if err != nil {
					t.Fatal(err)
				}
				ct, _ := cpu.Tokens()
				V := cm.Decoder.Cfg.Vocab
				for i := range ct {
					if gt[i] != ct[i] && math.Abs(float64(want[i*V+int(gt[i])]-want[i*V+int(ct[i])])) > 2*latentTol || gt[i] == int32(V-1) {
						t.Errorf("L=%d position %d: GPU token %d, CPU's %d", L, i, gt[i], ct[i])
					}
				}
			}
		})
	}
}

// TestContinuousSampleAgrees runs the whole sampler on both backends with one seed: the
// same noise, so the same estimates at every step within the tolerance, and the engine's
// load-time self-test passes.
func TestContinuousSampleAgrees(t *testing.T) {
	cm, f := randomContinuous(t, true, Q8_0)
	g := newTestContinuous(t, f)
	defer g.Close()
	mask := cm.Decoder.Cfg.MaskID()
	tmpl := []int32{5, 17, 40, mask, mask, mask, mask, mask, mask, mask, 9, mask, mask, mask}
	for _, solver := range continuous.Solvers {
		var ests [2][][]float32
		run := func(i int, b continuous.Backend) *continuous.Result {
			res, err := cm.SampleOn(b, tmpl, mask, continuous.Options{Steps: 12, Solver: solver, Seed: 11,
				OnStep: func(_ int, _ float64, z0 []float32) { ests[i] = append(ests[i], slices.Clone(z0)) }})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		want, got := run(0, cm.CPU()), run(1, g)
		worst := 0.0
		for k := range ests[0] {
			d, _ := maxAbsDiff(ests[1][k], ests[0][k])
			worst = max(worst, d)
		}
		t.Logf("%s: max |gpu-cpu| estimate over 12 steps %.3g; tokens %v vs %v", solver, worst, got.Tokens, want.Tokens)
		if !(worst <= 10*latentTol) {
			t.Errorf("%s: estimates drift apart by %g", solver, worst)
		}
		same := 0
		for i := range want.Tokens {
			if got.Tokens[i] == want.Tokens[i] {
				same++
			}
		}
		if same < len(tmpl)-1 {
			t.Errorf("%s: %d of %d tokens agree", solver, same, len(tmpl))
		}
	}
	r, err := engine.ContinuousSelfTest(gpuContinuous{g}, cm)
	if err != nil || !(r.MaxDiff <= engine.SelfTestTol) {
		t.Errorf("self-test: max difference %g (%v), want <= %g", r.MaxDiff, err, engine.SelfTestTol)
	}
	t.Logf("self-test: max difference %.3g; one denoiser call GPU %v, CPU %v", r.MaxDiff, r.GPU, r.CPU)
}

func TestContinuousErrors(t *testing.T) {
	_, f := randomContinuous(t, true, checkpoint.F32)
	g := newTestContinuous(t, f)
	if err := g.Denoise(make([]float32, 3)); err == nil {
		t.Error("Denoise before Begin gave no error")
	}
	if err := g.Begin(make([]float32, 3), make([]float32, 3), []bool{false}); err == nil {
		t.Error("Begin with mismatched sizes gave no error")
	}
	g.Close()
	if err := g.Begin(make([]float32, 32), make([]float32, 32), []bool{false}); err == nil {
		t.Error("Begin after Close gave no error")
	}
	// Its own device, as the page opens it: usable, then gone with Close.
	own, err := OpenContinuous(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := own.Begin(make([]float32, 32), make([]float32, 32), []bool{false}); err != nil {
		t.Fatal(err)
	}
	if err := own.Denoise([]float32{0.5}); err != nil {
		t.Fatal(err)
	}
	own.Close()
	if err := own.Denoise([]float32{0.5}); err == nil {
		t.Error("Denoise after Close gave no error")
	}
	f.Notes["kind"] = ""
	if _, _, _, err := continuousTensors(f); err == nil {
		t.Error("a file without kind=continuous was read")
	}
}

// TestContinuousMatmulChoice: a continuous model times its denoiser and decoder pass with
// each matmul kernel at load and records both with the faster.
func TestContinuousMatmulChoice(t *testing.T) {
	k := testKernels(t)
	_, f := randomContinuous(t, true, F32)
	den, dec, byName, err := continuousTensors(f)
	if err != nil {
		t.Fatal(err)
	}
	fake := func(km *kernels, steps []step) (time.Duration, error) {
		if usesKernel(steps) != km.mm {
			t.Errorf("a pass timed for the %s kernel was recorded with the other", km.mm)
		}
		return map[matmulKernel]time.Duration{registerMatmul: 5 * time.Millisecond, tiledMatmul: 4 * time.Millisecond}[km.mm], nil
	}
	c, err := newContinuousOn(k, sharedInfo, den, dec, byName, fake)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.plan(den.SeqLen)
	if err != nil {
		t.Fatal(err)
	}
	if kernel, _, _ := c.MatmulKernels(); kernel != "tiled" || usesKernel(p.denoise) != tiledMatmul || usesKernel(p.decode) != tiledMatmul {
		t.Errorf("chose %q, denoiser runs %s, decoder %s: want the tiled kernel, timed faster", kernel, usesKernel(p.denoise), usesKernel(p.decode))
	}
}
