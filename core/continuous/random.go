package continuous

import (
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// NewRandom builds an untrained continuous model on the encoder enc (contextual latents,
// tan-9 schedule): a denoiser and a decoder of the given shapes with model.New's random
// weights (seeds seed and seed+1), the latent statistics measured on windows (of equal
// length). For the tests of samplers and backends, which need a model file, not a
// trained one.
func NewRandom(enc *model.Model, den, dec model.Config, windows [][]int32, seed uint64) (*Model, error) {
	st, err := Measure(Contextual(enc), enc.Cfg.Dim, windows, 4, []int32{enc.Cfg.EOTID(), enc.Cfg.MaskID()}, nil)
	if err != nil {
		return nil, err
	}
	sp, err := NewSpace(enc, "contextual", st)
	if err != nil {
		return nil, err
	}
	sched, err := ScheduleByName("tan-d", 9)
	if err != nil {
		return nil, err
	}
	d, err := model.New(den, seed)
	if err != nil {
		return nil, err
	}
	c, err := model.New(dec, seed+1)
	if err != nil {
		return nil, err
	}
	return &Model{Denoiser: d, Decoder: c, Space: sp, Schedule: sched}, nil
}

// ToFile is the model as a continuous model file (see Attach) with the tokenizer tok;
// tensors are views of the networks' weights.
func (m *Model) ToFile(tok []byte) (*checkpoint.File, error) {
	f := m.Denoiser.ToFile(tok)
	if err := Attach(f, m.Space, m.Schedule, m.Decoder); err != nil {
		return nil, err
	}
	return f, nil
}
