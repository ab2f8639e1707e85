package continuous

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// tiny is a random bidirectional model and windows of its tokens, with EOT and MASK
// sprinkled in (a stream's document ends; masks that must not count either).
func tiny(t *testing.T) (*model.Model, [][]int32) {
	t.Helper()
	cfg := model.Config{Vocab: 32, Dim: 16, Layers: 2, Heads: 2, Hidden: 24, SeqLen: 8, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	windows := make([][]int32, 11)
	for i := range windows {
		w := make([]int32, cfg.SeqLen)
		for j := range w {
			switch u := rng.Float64(); {
			case u < 0.1:
				w[j] = cfg.EOTID()
			case u < 0.2:
				w[j] = cfg.MaskID()
			default:
				w[j] = int32(rng.IntN(cfg.Vocab - 2))
			}
		}
		windows[i] = w
	}
	return m, windows
}

// direct is the two-pass reference: encode each window alone, keep the text positions,
// then the mean and the population std of each dimension.
func direct(enc Encoder, D int, windows [][]int32, skip []int32) (rows [][]float64, mean, std []float64) {
	for _, w := range windows {
		z := enc(w, 1)
		for r, id := range w {
			if id == skip[0] || id == skip[1] {
				continue
			}
			row := make([]float64, D)
			for j := range D {
				row[j] = float64(z[r*D+j])
			}
			rows = append(rows, row)
		}
	}
	mean, std = make([]float64, D), make([]float64, D)
	for _, row := range rows {
		for j, v := range row {
			mean[j] += v / float64(len(rows))
		}
	}
	for _, row := range rows {
		for j, v := range row {
			std[j] += (v - mean[j]) * (v - mean[j]) / float64(len(rows))
		}
	}
	for j := range std {
		std[j] = math.Sqrt(std[j])
	}
	return rows, mean, std
}

func TestMeasureMatchesTwoPass(t *testing.T) {
	m, windows := tiny(t)
	D := m.Cfg.Dim
	skip := []int32{m.Cfg.EOTID(), m.Cfg.MaskID()}
	for _, c := range []struct {
		name string
		enc  Encoder
	}{{"contextual", Contextual(m)}, {"embeddings", Embeddings(m)}} {
		// Batches of 4 (the last one short) against windows one at a time.
		st, err := Measure(c.enc, D, windows, 4, skip, nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, mean, std := direct(c.enc, D, windows, skip)
		if st.N != int64(len(rows)) || st.D != D {
			t.Fatalf("%s: measured %d positions of width %d, want %d of %d (special tokens excluded)", c.name, st.N, st.D, len(rows), D)
		}
		for j := range D {
			if math.Abs(st.Mean[j]-mean[j]) > 1e-5*(1+math.Abs(mean[j])) || math.Abs(st.Std[j]-std[j]) > 1e-5*std[j] {
				t.Errorf("%s dim %d: mean %g std %g, two-pass %g %g", c.name, j, st.Mean[j], st.Std[j], mean[j], std[j])
			}
		}
		// Normalised, the text positions have mean 0 and std 1 in every dimension.
		z := make([]float32, 0, len(rows)*D)
		for _, row := range rows {
			for _, v := range row {
				z = append(z, float32(v))
			}
		}
		orig := append([]float32(nil), z...)
		st.Normalize(z)
		_, nm, ns := direct(func(ids []int32, B int) []float32 { return z }, D, [][]int32{make([]int32, len(rows))}, skip)
		for j := range D {
			if math.Abs(nm[j]) > 1e-5 || math.Abs(ns[j]-1) > 1e-5 {
				t.Errorf("%s dim %d: normalised mean %g std %g, want 0 and 1", c.name, j, nm[j], ns[j])
			}
		}
		st.Denormalize(z)
		for i := range z {
			if math.Abs(float64(z[i]-orig[i])) > 1e-5*(1+math.Abs(float64(orig[i]))) {
				t.Fatalf("%s: Denormalize(Normalize(z))[%d] = %g, want %g", c.name, i, z[i], orig[i])
			}
		}
	}
}

// TestEmbeddingsAreRows checks the context-free encoder returns each id's embedding row,
// independent of the rest of the sequence.
func TestEmbeddingsAreRows(t *testing.T) {
	m, _ := tiny(t)
	D := m.Cfg.Dim
	ids := []int32{3, 0, 3, 31}
	z := Embeddings(m)(ids, 2)
	for r, id := range ids {
		for j := range D {
			if z[r*D+j] != m.W.TokEmb[int(id)*D+j] {
				t.Fatalf("row %d (id %d) dim %d: %g, embedding %g", r, id, j, z[r*D+j], m.W.TokEmb[int(id)*D+j])
			}
		}
	}
}

func TestStatsStoreRoundTrip(t *testing.T) {
	m, windows := tiny(t)
	st, err := Measure(Contextual(m), m.Cfg.Dim, windows, 3, []int32{m.Cfg.EOTID(), m.Cfg.MaskID()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := m.ToFile(nil)
	if err := st.Store(f); err != nil {
		t.Fatal(err)
	}
	// The release file is a quantised copy: the notes must survive that too.
	q, err := checkpoint.Quantize(f, checkpoint.Q8_0, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.q8_0.ckpt")
	if err := checkpoint.Save(path, q); err != nil {
		t.Fatal(err)
	}
	g, err := checkpoint.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadStats(g)
	if err != nil {
		t.Fatal(err)
	}
	if back.D != st.D || back.N != st.N {
		t.Fatalf("stored D %d N %d, read %d %d", st.D, st.N, back.D, back.N)
	}
	for j := range st.D {
		if back.Mean[j] != st.Mean[j] || back.Std[j] != st.Std[j] {
			t.Fatalf("dim %d: stored %g %g, read %g %g", j, st.Mean[j], st.Std[j], back.Mean[j], back.Std[j])
		}
	}
	if _, err := LoadStats(m.ToFile(nil)); err == nil || !strings.Contains(err.Error(), StatsNote) {
		t.Errorf("a file without statistics: %v", err)
	}
}

func TestStatsRejected(t *testing.T) {
	for _, raw := range []string{
		`{`,
		`{"d":2,"mean":[0,0],"std":[1]}`,
		`{"d":2,"mean":[0,0],"std":[1,0]}`,
		`{"d":2,"mean":[0,0],"std":[1,-1]}`,
		`{"d":0,"mean":[],"std":[]}`,
	} {
		if _, err := ParseStats([]byte(raw)); err == nil {
			t.Errorf("ParseStats(%s) accepted", raw)
		}
	}
	if _, err := ParseStats([]byte(`{"d":2,"n":5,"mean":[0.5,-1],"std":[1,2]}`)); err != nil {
		t.Error(err)
	}
	// A dimension that never varies cannot be normalised.
	acc := NewAccumulator(2)
	acc.Add([]float32{1, 2, 1, 3, 1, 4}, []int32{0, 0, 0})
	if _, err := acc.Stats(); err == nil || !strings.Contains(err.Error(), "dimension 0") {
		t.Errorf("constant dimension: %v", err)
	}
	if _, err := NewAccumulator(2).Stats(); err == nil {
		t.Error("statistics of nothing accepted")
	}
	if _, err := Measure(func([]int32, int) []float32 { return make([]float32, 4) }, 2, [][]int32{{1, 2}, {1}}, 1, nil, nil); err == nil || !strings.Contains(err.Error(), "window 1") {
		t.Errorf("ragged windows: %v", err)
	}
}
