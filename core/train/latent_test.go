package train

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// tinySpace is a random masked model's contextual latent space, normalised by the
// statistics of s's windows.
func tinySpace(t *testing.T, s []int32) *continuous.Space {
	t.Helper()
	enc, err := model.New(tinyConfig("mdm").Model, 21)
	if err != nil {
		t.Fatal(err)
	}
	var windows [][]int32
	for o := 0; o+12 <= len(s); o += 12 {
		windows = append(windows, s[o:o+12])
	}
	st, err := continuous.Measure(continuous.Contextual(enc), enc.Cfg.Dim, windows, 8, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := continuous.NewSpace(enc, "contextual", st)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// latentConfig is a tiny run of a continuous objective on tinySpace's latents.
func latentConfig(objective string, selfCond bool) Config {
	c := tinyConfig(objective)
	c.Model.Latent = c.Model.Dim
	c.Model.Denoiser = objective == "continuous"
	c.Model.SelfCond = selfCond && c.Model.Denoiser
	c.Latents, c.Prompted, c.DecoderTMax = "contextual", 0.5, 0.15
	return c
}

// The continuous objectives' gradients are the finite differences of their losses (with
// the step's draws fixed), prompt rows and all; self-conditioning is off here because its
// first pass is held fixed (stop-gradient), which finite differences would not do.
func TestLatentObjectiveGrad(t *testing.T) {
	s := stream(2000)
	sp := tinySpace(t, s)
	for _, obj := range []string{"continuous", "decoder"} {
		tr, err := New(latentConfig(obj, false), nil, windowBatch(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetSpace(sp, nil); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		for i := range tr.Model.Params {
			tr.Model.Params[i] += float32(rng.NormFloat64() * 0.05)
		}
		B, L := tr.Cfg.Batch, tr.Cfg.Model.SeqLen
		x0 := make([]int32, B*L)
		windowBatch(s)(9, x0, B, L)
		loss := func() float64 { return tr.obj.Loss(tr, x0, 0, B, rand.New(rand.NewPCG(4, 4)), false) }
		l0 := loss()
		tr.Model.ZeroGrad()
		if l1 := tr.obj.Loss(tr, x0, 0, B, rand.New(rand.NewPCG(4, 4)), true); l1 != l0 {
			t.Fatalf("%s: loss %g with gradient, %g without", obj, l1, l0)
		}
		grads := slices.Clone(tr.Model.Grads)
		off := 0
		for _, sp := range tr.Cfg.Model.Specs() {
			n := sp.Size()
			x, g := tr.Model.Params[off:off+n], grads[off:off+n]
			for c := 0; c < 3; c++ {
				i := rng.IntN(n)
				old := x[i]
				const h = 1e-2
				x[i] = old + h
				lp := loss()
				x[i] = old - h
				lm := loss()
				x[i] = old
				num := (lp - lm) / (2 * h)
				if err := math.Abs(num-float64(g[i])) / math.Max(1e-3, math.Abs(num)+math.Abs(float64(g[i]))); err > 5e-2 {
					t.Fatalf("%s %s[%d]: analytic %g numeric %g", obj, sp.Name, i, g[i], num)
				}
			}
			off += n
		}
	}
}

// A tiny denoiser and decoder learn (validation losses fall), their run resumes exactly
// from its checkpoint (encoder and decoder travel in it), and the model file samples:
// known tokens stay, the rest is filled.
func TestContinuousRun(t *testing.T) {
	s := stream(4000)
	sp := tinySpace(t, s)
	var val [][]int32
	for o := 3000; o+12 <= 3600; o += 12 {
		val = append(val, s[o:o+12])
	}
	train := func(obj string, dec *model.Model) *Trainer {
		cfg := latentConfig(obj, true)
		cfg.Steps = 60
		tr, err := New(cfg, nil, windowBatch(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetSpace(sp, dec); err != nil {
			t.Fatal(err)
		}
		before := tr.Validate(val, nil)
		for tr.Step < 30 {
			tr.TrainStep()
		}
		res := saveAndResume(t, tr, s)
		for tr.Step < cfg.Steps {
			a, b := tr.TrainStep(), res.TrainStep()
			if a.Loss != b.Loss {
				t.Fatalf("%s step %d: loss %g, resumed %g", obj, a.Step, a.Loss, b.Loss)
			}
		}
		after := tr.Validate(val, nil)
		t.Logf("%s: validation %.4f -> %.4f", obj, before, after)
		// The denoiser starts at about 1 (normalised latents) and a tiny one gains a few
		// per cent in 60 steps; the decoder's cross-entropy falls by much more.
		if want := map[string]float64{"decoder": 0.9, "continuous": 0.98}[obj]; !(after < want*before) {
			t.Errorf("%s: validation %g -> %g, not learning", obj, before, after)
		}
		return tr
	}
	dec := train("decoder", nil)
	den := train("continuous", dec.Model)
	if _, err := continuous.Open(den.ModelFile(den.Model)); err != nil {
		t.Fatal(err)
	}
	den.Decoder = nil
	if _, err := continuous.Open(den.ModelFile(den.Model)); err == nil {
		t.Fatal("a file without its decoder opened")
	}
	den.Decoder = dec.Model
	cm, err := continuous.Open(den.ModelFile(den.Model))
	if err != nil {
		t.Fatal(err)
	}
	mask := den.Cfg.Model.MaskID()
	tmpl := slices.Clone(s[100:112])
	for i := 4; i < 10; i++ {
		tmpl[i] = mask
	}
	for _, solver := range continuous.Solvers {
		r, err := cm.Sample(tmpl, mask, continuous.Options{Steps: 10, Solver: solver, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if r.DenoiserCalls != 10 || len(r.Tokens) != 12 {
			t.Fatalf("%s: %d calls, %d tokens", solver, r.DenoiserCalls, len(r.Tokens))
		}
		for i, id := range r.Tokens {
			if (tmpl[i] != mask && id != tmpl[i]) || id == mask {
				t.Fatalf("%s: position %d: %d (template %d)", solver, i, id, tmpl[i])
			}
		}
	}
}

// A release file refers to its encoder's file instead of holding it (continuous.Detach):
// Load finds the file beside it and samples the same text; a missing or different encoder
// file is an error naming it.
func TestDetachedEncoder(t *testing.T) {
	s := stream(3000)
	sp := tinySpace(t, s)
	newRun := func(obj string, dec *model.Model) *Trainer {
		tr, err := New(latentConfig(obj, true), nil, windowBatch(s))
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.SetSpace(sp, dec); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	den := newRun("continuous", newRun("decoder", nil).Model)
	dir := t.TempDir()
	encFile := sp.Net.ToFile(nil)
	encPath := filepath.Join(dir, "enc.ckpt")
	if err := checkpoint.Save(encPath, encFile); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(encPath)
	bundled := den.ModelFile(den.Model)
	f := den.ModelFile(den.Model)
	if err := continuous.Detach(f, encPath, raw); err != nil {
		t.Fatal(err)
	}
	for _, ten := range f.Tensors {
		if strings.HasPrefix(ten.Name, "encoder.") {
			t.Fatalf("%s kept", ten.Name)
		}
	}
	path := filepath.Join(dir, "cont.ckpt")
	if err := checkpoint.Save(path, f); err != nil {
		t.Fatal(err)
	}
	cm, _, err := continuous.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := continuous.Open(bundled)
	if err != nil {
		t.Fatal(err)
	}
	mask := den.Cfg.Model.MaskID()
	tmpl := append(slices.Clone(s[:3]), mask, mask, mask, mask)
	a, _ := cm.Sample(tmpl, mask, continuous.Options{Steps: 4, Seed: 2})
	b, _ := ref.Sample(tmpl, mask, continuous.Options{Steps: 4, Seed: 2})
	if !slices.Equal(a.Tokens, b.Tokens) {
		t.Fatalf("detached %v, bundled %v", a.Tokens, b.Tokens)
	}
	if _, err := continuous.Open(f); !errors.Is(err, continuous.ErrNeedEncoder) {
		t.Fatalf("Open without the encoder: %v", err)
	}
	other, _ := model.New(sp.Net.Cfg, 99)
	if err := continuous.Detach(den.ModelFile(den.Model), "other.ckpt", encodeFile(t, other.ToFile(nil))); err == nil {
		t.Fatal("Detach accepted another encoder")
	}
	if err := os.WriteFile(encPath, encodeFile(t, other.ToFile(nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := continuous.Load(path); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("Load with a changed encoder file: %v", err)
	}
}

func encodeFile(t *testing.T, f *checkpoint.File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := checkpoint.Encode(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
