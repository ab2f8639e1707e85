package model

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
)

// ToFile wraps the model's weights (views, not copies) and its config in a checkpoint
// file; tok is the tokenizer.json bytes (may be nil).
func (m *Model) ToFile(tok []byte) *checkpoint.File {
	cfg, _ := json.Marshal(m.Cfg)
	f := &checkpoint.File{Config: cfg, Tokenizer: tok}
	for _, s := range m.Cfg.Specs() {
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: s.Name, Shape: s.Shape, DType: checkpoint.F32, F32: m.W.ByName[s.Name]})
	}
	return f
}

// FromFile builds a model from a checkpoint or release file, dequantising as needed. A
// config that does not parse, a missing tensor or a shape that disagrees with the config
// is an error wrapping checkpoint.ErrShape.
func FromFile(f *checkpoint.File) (*Model, error) { return fromFile(f, Empty) }

// FromFileInference is FromFile for a model that only runs forward (see EmptyInference).
func FromFileInference(f *checkpoint.File) (*Model, error) { return fromFile(f, EmptyInference) }

func fromFile(f *checkpoint.File, empty func(Config) (*Model, error)) (*Model, error) {
	var cfg Config
	if err := json.Unmarshal(f.Config, &cfg); err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	m, err := empty(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", checkpoint.ErrShape, err)
	}
	for _, s := range cfg.Specs() {
		t := f.Tensor(s.Name)
		if t == nil {
			return nil, fmt.Errorf("%w: tensor %s missing", checkpoint.ErrShape, s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("%w: tensor %s has shape %v, config says %v", checkpoint.ErrShape, s.Name, t.Shape, s.Shape)
		}
		if err := t.Float32Into(m.W.ByName[s.Name]); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", s.Name, err)
		}
	}
	return m, nil
}

// Load reads a model from a checkpoint or release file; errors name the file.
func Load(path string) (*Model, *checkpoint.File, error) {
	f, err := checkpoint.Load(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := FromFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, f, nil
}
