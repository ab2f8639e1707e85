package continuous

import (
	"math"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/model"
)

// tinyModel is an untrained continuous model on tiny's encoder, with self-conditioning.
func tinyModel(t *testing.T) *Model {
	t.Helper()
	enc, windows := tiny(t)
	c := enc.Cfg
	den := model.Config{Vocab: c.Vocab, Dim: 24, Layers: 2, Heads: 2, Hidden: 32, SeqLen: c.SeqLen, RopeTheta: 10000, NormEps: 1e-5,
		Latent: c.Dim, Denoiser: true, SelfCond: true}
	dec := model.Config{Vocab: c.Vocab, Dim: 16, Layers: 1, Heads: 2, Hidden: 24, SeqLen: c.SeqLen, RopeTheta: 10000, NormEps: 1e-5, Latent: c.Dim}
	m, err := NewRandom(enc, den, dec, windows, 9)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The update's one form covers both solvers' rules as the top of reverse.go writes them.
func TestCoefficientsAreTheSolversRules(t *testing.T) {
	m := &Model{Schedule: mustSchedule(t, "tan-d", 9)}
	for _, ts := range [][2]float64{{1, 0.98}, {0.5, 0.48}, {0.03, 0.01}} {
		tt, s := ts[0], ts[1]
		at, as := m.Schedule.Alpha(tt), m.Schedule.Alpha(s)
		est, z := 0.7, -1.3
		c0, ct, sd := m.coefficients(tt, s, "ode")
		ddim := math.Sqrt(as)*est + math.Sqrt(1-as)*(z-math.Sqrt(at)*est)/math.Sqrt(1-at)
		if got := float64(c0)*est + float64(ct)*z; sd != 0 || math.Abs(got-ddim) > 1e-5 {
			t.Errorf("ode %v: %g + %g noise, want %g", ts, got, sd, ddim)
		}
		c0, ct, sd = m.coefficients(tt, s, "sde")
		r := at / as
		mu := math.Sqrt(as)*(1-r)/(1-at)*est + math.Sqrt(r)*(1-as)/(1-at)*z
		sigma := math.Sqrt((1 - r) * (1 - as) / (1 - at))
		if got := float64(c0)*est + float64(ct)*z; math.Abs(got-mu) > 1e-5 || math.Abs(float64(sd)-sigma) > 1e-6 {
			t.Errorf("sde %v: mean %g sd %g, want %g and %g", ts, got, sd, mu, sigma)
		}
	}
}

func mustSchedule(t *testing.T, name string, d float64) Schedule {
	s, err := ScheduleByName(name, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// recorder is a Backend that logs what the sampler hands it, around the CPU backend.
type recorder struct {
	*CPUBackend
	noise [][]float32
}

func (r *recorder) Update(c0, ct, sd float32, noise []float32) error {
	r.noise = append(r.noise, slices.Clone(noise))
	return r.CPUBackend.Update(c0, ct, sd, noise)
}

func TestSampleOn(t *testing.T) {
	m := tinyModel(t)
	mask := m.Decoder.Cfg.MaskID()
	tmpl := []int32{3, 7, mask, mask, 11, mask, mask, 5}
	for _, solver := range Solvers {
		var live [][]int32
		var ests [][]float32
		rec := &recorder{CPUBackend: m.CPU()}
		opt := Options{Steps: 7, Solver: solver, Seed: 4, TokensEvery: 3,
			OnTokens: func(k int, _ float64, ids []int32) { live = append(live, slices.Clone(ids)) },
			OnStep:   func(k int, _ float64, z0 []float32) { ests = append(ests, slices.Clone(z0)) }}
		r, err := m.SampleOn(rec, tmpl, mask, opt)
		if err != nil {
			t.Fatal(err)
		}
		// Decoded after steps 3, 6 and the last (7); the last is the sample.
		if len(live) != 3 || r.DecoderCalls != 3 || r.DenoiserCalls != 7 || len(ests) != 7 {
			t.Fatalf("%s: %d live views, %d decoder and %d denoiser calls, %d estimates", solver, len(live), r.DecoderCalls, r.DenoiserCalls, len(ests))
		}
		if !slices.Equal(live[2], r.Tokens) {
			t.Errorf("%s: last live view %v, sample %v", solver, live[2], r.Tokens)
		}
		D := m.Space.D()
		clean := make([]float32, len(tmpl)*D)
		m.Space.Encode(clean, tmpl, 1)
		for i, id := range tmpl {
			if id != mask {
				if r.Tokens[i] != id || !slices.Equal(r.FinalEstimate[i*D:(i+1)*D], clean[i*D:(i+1)*D]) {
					t.Errorf("%s: known position %d not held", solver, i)
				}
			} else if r.Tokens[i] == mask {
				t.Errorf("%s: position %d decoded to MASK", solver, i)
			}
		}
		// The SDE draws fresh noise for each of the 6 updates, the ODE none.
		for _, n := range rec.noise {
			if (solver == "sde") != (len(n) == len(tmpl)*D) {
				t.Fatalf("%s: update noise of %d values", solver, len(n))
			}
		}
		if len(rec.noise) != 6 {
			t.Errorf("%s: %d updates, want 6", solver, len(rec.noise))
		}
		// The same seed repeats the sample exactly; Sample is SampleOn the CPU.
		again, err := m.Sample(tmpl, mask, Options{Steps: 7, Solver: solver, Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again.FinalEstimate, r.FinalEstimate) || !slices.Equal(again.Tokens, r.Tokens) || again.DecoderCalls != 1 {
			t.Errorf("%s: the sample did not repeat (%d decoder calls)", solver, again.DecoderCalls)
		}
	}
	if _, err := m.SampleOn(m.CPU(), tmpl, mask, Options{TokensEvery: -1}); err == nil {
		t.Error("TokensEvery -1 accepted")
	}
}

// The file ToFile writes opens to the same networks.
func TestToFileRoundTrip(t *testing.T) {
	m := tinyModel(t)
	f, err := m.ToFile(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Open(f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Denoiser.Params, m.Denoiser.Params) || !slices.Equal(got.Decoder.Params, m.Decoder.Params) ||
		!slices.Equal(got.Space.Stats.Mean, m.Space.Stats.Mean) || got.Schedule.Name() != m.Schedule.Name() {
		t.Error("the file does not hold the model")
	}
}
