package gpu

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// modelTensors picks the tensors cfg needs (model.Config.Specs) out of a checkpoint
// file, leaving the rest (optimizer state, extras).
func modelTensors(f *checkpoint.File, cfg model.Config) ([]checkpoint.Tensor, error) {
	var ts []checkpoint.Tensor
	for _, s := range cfg.Specs() {
		t := f.Tensor(s.Name)
		if t == nil {
			return nil, fmt.Errorf("gpu: tensor %q missing from the checkpoint", s.Name)
		}
		ts = append(ts, *t)
	}
	return ts, nil
}

// checkTensors matches the tensors to the names and shapes cfg implies and returns them
// by name; every problem is an error naming the tensor.
func checkTensors(cfg model.Config, tensors []checkpoint.Tensor) (map[string]*checkpoint.Tensor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hd := cfg.Dim / cfg.Heads; hd%4 != 0 {
		// The attention shader reads heads as vec4s.
		return nil, fmt.Errorf("gpu: head size %d (dim %d / %d heads) is not a multiple of 4", hd, cfg.Dim, cfg.Heads)
	}
	byName := make(map[string]*checkpoint.Tensor, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("gpu: tensor %q given twice", t.Name)
		}
		byName[t.Name] = t
	}
	specs := cfg.Specs()
	for _, s := range specs {
		t, ok := byName[s.Name]
		if !ok {
			return nil, fmt.Errorf("gpu: tensor %q missing", s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("gpu: tensor %q has shape %v, want %v", s.Name, t.Shape, s.Shape)
		}
		if err := checkData(t, s.Size()); err != nil {
			return nil, err
		}
		if len(s.Shape) != 2 {
			continue
		}
		switch {
		case (t.DType == checkpoint.Q8_0 || t.DType == checkpoint.Q4_0) && s.Shape[1]%quant.QK != 0:
			// The matmul shaders read each row of W as whole blocks.
			return nil, fmt.Errorf("gpu: tensor %q is %s with rows of %d values, not a multiple of 32", s.Name, t.DType, s.Shape[1])
		case s.Shape[1]%4 != 0:
			// The matmul shaders read rows as vec4s.
			return nil, fmt.Errorf("gpu: tensor %q has rows of %d values, not a multiple of 4", s.Name, s.Shape[1])
		}
	}
	if len(byName) != len(specs) {
		known := map[string]bool{}
		for _, s := range specs {
			known[s.Name] = true
		}
		for name := range byName {
			if !known[name] {
				return nil, fmt.Errorf("gpu: unexpected tensor %q for this config", name)
			}
		}
	}
	return byName, nil
}

// checkData checks that t holds n values in its dtype: F32 in t.F32, the rest in t.Raw.
func checkData(t *checkpoint.Tensor, n int) error {
	var want int
	switch t.DType {
	case checkpoint.F32:
		if len(t.F32) != n || t.Raw != nil {
			return fmt.Errorf("gpu: tensor %q (f32 %v) has %d values in F32 (and %d raw bytes), want %d", t.Name, t.Shape, len(t.F32), len(t.Raw), n)
		}
		return nil
	case checkpoint.F16:
		want = 2 * n
	case checkpoint.Q8_0, checkpoint.Q4_0:
		if n%quant.QK != 0 {
			return fmt.Errorf("gpu: tensor %q of %d values cannot be %s (blocks of 32)", t.Name, n, t.DType)
		}
		want = n / quant.QK * quant.BlockSizeQ8_0
		if t.DType == checkpoint.Q4_0 {
			want = n / quant.QK * quant.BlockSizeQ4_0
		}
	default:
		return fmt.Errorf("gpu: tensor %q has unsupported dtype %s", t.Name, t.DType)
	}
	if len(t.Raw) != want || t.F32 != nil {
		return fmt.Errorf("gpu: tensor %q (%s %v) has %d raw bytes (and %d F32 values), want %d", t.Name, t.DType, t.Shape, len(t.Raw), len(t.F32), want)
	}
	return nil
}

// f32Bytes views float32 values as their bytes (little-endian on every Go port that runs
// this, wasm included) without copying.
func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// u32Bytes views uint32 values as their bytes without copying.
func u32Bytes(v []uint32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// padded returns a copy of b extended with zeros to a whole number of 4-byte words plus
// one spare word.
func padded(b []byte) []byte {
	n := (len(b)+3)&^3 + 4
	return append(append(make([]byte, 0, n), b...), make([]byte, n-len(b))...)
}
