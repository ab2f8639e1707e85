package model

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestLatentGrad checks the continuous paradigm's network ends against finite
// differences: every tensor of a denoiser (input projection with self-conditioning, time
// MLP, output projection, and the blocks between) under a weighted sum of its estimate,
// and every tensor of a decoder under a weighted sum of its logits.
func TestLatentGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	B, L, Z := 2, 5, 6
	vec := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		return x
	}
	for _, v := range []struct {
		name         string
		denoiser, sc bool
	}{{"denoiser", true, true}, {"denoiser without self-conditioning", true, false}, {"decoder", false, false}} {
		cfg := tiny(false)
		cfg.Latent, cfg.Denoiser, cfg.SelfCond = Z, v.denoiser, v.sc
		m, err := New(cfg, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Params {
			m.Params[i] += float32(rng.NormFloat64() * 0.15)
		}
		z, sc := vec(B*L*Z), vec(B*L*Z)
		times := make([]float32, B*L)
		for i := range times {
			times[i] = rng.Float32() * 0.01 // 1000 t keeps the features' phases moderate
		}
		var w []float32
		var loss func() float64
		if v.denoiser {
			w = vec(B * L * Z)
			loss = func() float64 { return dot(w, m.Denoise(z, sc, times, B)) }
		} else {
			w = vec(B * L * cfg.Vocab)
			loss = func() float64 { return dot(w, m.Decode(z, B)) }
		}
		t.Logf("%s: loss %g", v.name, loss())
		m.ZeroGrad()
		if v.denoiser {
			m.DenoiseBackward(w)
		} else {
			m.DecodeBackward(w)
		}
		grads := append([]float32(nil), m.Grads...)
		off := 0
		for _, s := range cfg.Specs() {
			n := s.Size()
			checkStep(t, v.name+" "+s.Name, m.Params[off:off+n], grads[off:off+n], loss, 1e-2, 5e-2)
			off += n
		}
		if off != len(m.Params) {
			t.Fatalf("%s: specs cover %d of %d parameters", v.name, off, len(m.Params))
		}
	}
}

// A denoiser without self-conditioning ignores sc; with it, sc changes the estimate, and
// nil is the same as zeros.
func TestSelfCondInput(t *testing.T) {
	cfg := tiny(false)
	cfg.Latent, cfg.Denoiser, cfg.SelfCond = 4, true, true
	m, _ := New(cfg, 8)
	rng := rand.New(rand.NewPCG(1, 2))
	B, L := 1, 3
	z, sc := make([]float32, B*L*4), make([]float32, B*L*4)
	for i := range z {
		z[i], sc[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	tm := []float32{0.5, 0.5, 0}
	a := append([]float32(nil), m.Denoise(z, nil, tm, B)...)
	b := append([]float32(nil), m.Denoise(z, make([]float32, len(z)), tm, B)...)
	c := m.Denoise(z, sc, tm, B)
	if dot(a, a) == 0 || !equal(a, b) || equal(a, c) {
		t.Fatalf("self-conditioning: nil vs zeros equal %v, vs sc equal %v", equal(a, b), equal(a, c))
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i] * b[i])
	}
	return s
}

func equal(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Exporters to token-model formats refuse a latent network by its config.
func TestOverTokens(t *testing.T) {
	c := tiny(false)
	if err := c.OverTokens("GGUF"); err != nil {
		t.Fatal(err)
	}
	c.Latent = 4
	if err := c.OverTokens("GGUF"); err == nil || !strings.Contains(err.Error(), "GGUF") {
		t.Fatalf("latent network: error %v", err)
	}
}
