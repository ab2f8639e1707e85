package continuous

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// Encoder maps token ids (B, L) to encodings (B*L, D); the result may be a view that the
// next call overwrites.
type Encoder func(ids []int32, B int) []float32

// Contextual is TEncDM's encoder: m's final normed hidden states on the clean text (see
// model.Hidden), with m frozen. For a Shift model the rows are not moved: row i is
// position i's own state, which sees token i, not the state its head reads to predict it.
func Contextual(m *model.Model) Encoder { return m.Hidden }

// Embeddings is the context-free alternative for the ablation: each token's row of m's
// embedding table, whatever its neighbours.
func Embeddings(m *model.Model) Encoder {
	var buf []float32
	D, V := m.Cfg.Dim, int32(m.Cfg.Vocab)
	return func(ids []int32, B int) []float32 {
		buf = slices.Grow(buf[:0], len(ids)*D)[:len(ids)*D]
		for r, id := range ids {
			if id < 0 || id >= V {
				panic("continuous: token id outside the vocabulary")
			}
			copy(buf[r*D:(r+1)*D], m.W.TokEmb[int(id)*D:(int(id)+1)*D])
		}
		return buf
	}
}

// Accumulator gathers per-dimension means and variances of encodings one row at a time
// (Welford's update in float64), so a corpus of any length streams through it.
type Accumulator struct {
	D    int
	N    int64
	mean []float64
	m2   []float64 // sum of squared deviations from the running mean
}

// NewAccumulator returns an empty accumulator of D-vectors.
func NewAccumulator(D int) *Accumulator {
	return &Accumulator{D: D, mean: make([]float64, D), m2: make([]float64, D)}
}

// Add takes the rows of z (len(ids), D) whose token is not in skip (the special tokens:
// EOT and MASK encode no text).
func (a *Accumulator) Add(z []float32, ids []int32, skip ...int32) {
	D := a.D
	if len(z) != len(ids)*D {
		panic("continuous: Add needs one D-row of z per id")
	}
	for r, id := range ids {
		if slices.Contains(skip, id) {
			continue
		}
		a.N++
		inv := 1 / float64(a.N)
		row := z[r*D : (r+1)*D]
		for j, v := range row {
			x := float64(v)
			d := x - a.mean[j]
			a.mean[j] += d * inv
			a.m2[j] += d * (x - a.mean[j])
		}
	}
}

// Stats is what normalisation needs: the per-dimension mean and standard deviation
// (population, over every non-special position of the training split). It is stored as
// JSON in a release file (see Store).
type Stats struct {
	D    int       `json:"d"`
	N    int64     `json:"n"` // positions measured
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// Stats returns the statistics so far; it needs two positions and no constant dimension
// (whose std of 0 normalisation would divide by).
func (a *Accumulator) Stats() (Stats, error) {
	s := Stats{D: a.D, N: a.N, Mean: slices.Clone(a.mean), Std: make([]float64, a.D)}
	if a.N < 2 {
		return Stats{}, fmt.Errorf("continuous: statistics need at least 2 positions, have %d", a.N)
	}
	for j := range s.Std {
		s.Std[j] = math.Sqrt(a.m2[j] / float64(a.N))
	}
	return s, s.Validate()
}

// Measure streams windows (each of the same length L) through enc, batch sequences at a
// time, and returns the statistics of their encodings, positions holding a skip token
// excluded. done, if not nil, is told how many windows each batch held.
func Measure(enc Encoder, D int, windows [][]int32, batch int, skip []int32, done func(int)) (Stats, error) {
	if batch < 1 || len(windows) == 0 {
		return Stats{}, fmt.Errorf("continuous: Measure needs windows and batch >= 1 (have %d windows, batch %d)", len(windows), batch)
	}
	acc := NewAccumulator(D)
	ids := make([]int32, 0, batch*len(windows[0]))
	for lo := 0; lo < len(windows); lo += batch {
		hi := min(lo+batch, len(windows))
		ids = ids[:0]
		for i, w := range windows[lo:hi] {
			if len(w) != len(windows[0]) {
				return Stats{}, fmt.Errorf("continuous: window %d has %d tokens, the first %d", lo+i, len(w), len(windows[0]))
			}
			ids = append(ids, w...)
		}
		acc.Add(enc(ids, hi-lo), ids, skip...)
		if done != nil {
			done(hi - lo)
		}
	}
	return acc.Stats()
}

// Validate reports the first inconsistency: a width that disagrees with the slices, a
// mean that is not finite, a std that is not finite and positive.
func (s Stats) Validate() error {
	if s.D <= 0 || len(s.Mean) != s.D || len(s.Std) != s.D {
		return fmt.Errorf("continuous: stats of width %d with %d means and %d stds", s.D, len(s.Mean), len(s.Std))
	}
	for j := range s.D {
		if math.IsNaN(s.Mean[j]) || math.IsInf(s.Mean[j], 0) {
			return fmt.Errorf("continuous: stats: mean of dimension %d is %g", j, s.Mean[j])
		}
		if !(s.Std[j] > 0) || math.IsInf(s.Std[j], 0) {
			return fmt.Errorf("continuous: stats: std of dimension %d is %g (constant or broken encodings)", j, s.Std[j])
		}
	}
	return nil
}

// Normalize maps encodings z (rows of D) to (z - mean)/std in place, the denoiser's space.
func (s Stats) Normalize(z []float32) {
	s.rows(z)
	for i := range z {
		j := i % s.D
		z[i] = float32((float64(z[i]) - s.Mean[j]) / s.Std[j])
	}
}

// Denormalize is Normalize's inverse, z*std + mean in place: the decoder reads latents in
// the encoder's own space.
func (s Stats) Denormalize(z []float32) {
	s.rows(z)
	for i := range z {
		j := i % s.D
		z[i] = float32(float64(z[i])*s.Std[j] + s.Mean[j])
	}
}

func (s Stats) rows(z []float32) {
	if s.D <= 0 || len(z)%s.D != 0 {
		panic("continuous: encodings not a whole number of D-rows")
	}
}

// StatsNote is the key of a checkpoint file's Notes under which Store keeps the encoder's
// statistics: Notes is the file's free-form string map, so the statistics travel with the
// continuous model (and its quantised releases) without a change to the format.
const StatsNote = "continuous.encoder_stats"

// Store writes s as JSON into f's notes.
func (s Stats) Store(f *checkpoint.File) error {
	if err := s.Validate(); err != nil {
		return err
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if f.Notes == nil {
		f.Notes = map[string]string{}
	}
	f.Notes[StatsNote] = string(raw)
	return nil
}

// LoadStats reads the statistics Store wrote into f.
func LoadStats(f *checkpoint.File) (Stats, error) {
	raw, ok := f.Notes[StatsNote]
	if !ok {
		return Stats{}, fmt.Errorf("continuous: the file holds no encoder statistics (note %q)", StatsNote)
	}
	return ParseStats([]byte(raw))
}

// ParseStats decodes and validates statistics in Store's JSON.
func ParseStats(raw []byte) (Stats, error) {
	var s Stats
	if err := json.Unmarshal(raw, &s); err != nil {
		return Stats{}, fmt.Errorf("continuous: encoder statistics: %w", err)
	}
	return s, s.Validate()
}
