package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// DType is how a tensor's values are stored in a checkpoint.
type DType string

// The storage types the GPU path reads. Matrices stay in their type on the GPU (the
// matmul shaders dequantise Q8_0 and Q4_0 blocks as they load them); f16 is widened to
// f32 on upload because shader-f16 is often missing (SwiftShader has none).
const (
	F32  DType = "f32"
	F16  DType = "f16"
	Q8_0 DType = "q8_0"
	Q4_0 DType = "q4_0"
)

// Tensor is one decoded checkpoint tensor: its raw little-endian bytes as stored.
type Tensor struct {
	Name  string
	Shape []int // matrices are (out, in), row-major
	DType DType
	Data  []byte // f32: 4 bytes a value; f16: 2; Q8_0: 34 per 32 values; Q4_0: 18 per 32
}

// F32Tensor wraps float32 values as a Tensor (copying them).
func F32Tensor(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, Shape: append([]int(nil), shape...), DType: F32, Data: b}
}

// byteSize is the stored size of n values of type dt, or -1 if dt cannot hold n values.
func byteSize(dt DType, n int) int {
	switch dt {
	case F32:
		return 4 * n
	case F16:
		return 2 * n
	case Q8_0:
		if n%quant.QK != 0 {
			return -1
		}
		return n / quant.QK * quant.BlockSizeQ8_0
	case Q4_0:
		if n%quant.QK != 0 {
			return -1
		}
		return n / quant.QK * quant.BlockSizeQ4_0
	}
	return -1
}

// checkTensors matches the tensors to the names and shapes the config implies and
// returns them by name; every problem is an error naming the tensor.
func checkTensors(cfg model.Config, tensors []Tensor) (map[string]Tensor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	byName := make(map[string]Tensor, len(tensors))
	for _, t := range tensors {
		if _, dup := byName[t.Name]; dup {
			return nil, fmt.Errorf("gpu: tensor %q given twice", t.Name)
		}
		byName[t.Name] = t
	}
	for _, s := range cfg.Specs() {
		t, ok := byName[s.Name]
		if !ok {
			return nil, fmt.Errorf("gpu: tensor %q missing", s.Name)
		}
		if !equalShape(t.Shape, s.Shape) {
			return nil, fmt.Errorf("gpu: tensor %q has shape %v, want %v", s.Name, t.Shape, s.Shape)
		}
		n := s.Size()
		want := byteSize(t.DType, n)
		switch {
		case want < 0 && (t.DType == Q8_0 || t.DType == Q4_0):
			return nil, fmt.Errorf("gpu: tensor %q of %d values cannot be %s (blocks of 32)", s.Name, n, t.DType)
		case want < 0:
			return nil, fmt.Errorf("gpu: tensor %q has unknown dtype %q (want f32, f16, q8_0 or q4_0)", s.Name, t.DType)
		case len(t.Data) != want:
			return nil, fmt.Errorf("gpu: tensor %q (%s %v) has %d bytes, want %d", s.Name, t.DType, s.Shape, len(t.Data), want)
		case len(s.Shape) == 2 && (t.DType == Q8_0 || t.DType == Q4_0) && s.Shape[1]%quant.QK != 0:
			// The matmul shaders read each row of W as whole blocks.
			return nil, fmt.Errorf("gpu: tensor %q is %s with rows of %d values, not a multiple of 32", s.Name, t.DType, s.Shape[1])
		case len(s.Shape) == 2 && s.Shape[1]%4 != 0:
			// The matmul shaders read rows as vec4s.
			return nil, fmt.Errorf("gpu: tensor %q has rows of %d values, not a multiple of 4", s.Name, s.Shape[1])
		}
	}
	if len(byName) != len(cfg.Specs()) {
		for name := range byName {
			if !knownName(cfg, name) {
				return nil, fmt.Errorf("gpu: unexpected tensor %q for this config", name)
			}
		}
	}
	return byName, nil
}

func knownName(cfg model.Config, name string) bool {
	for _, s := range cfg.Specs() {
		if s.Name == name {
			return true
		}
	}
	return false
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// toF32 decodes a (checked) tensor to float32 values; for the small tensors (norm
// weights) that the shaders read as f32 whatever the checkpoint's type.
func toF32(t Tensor) []float32 {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	out := make([]float32, n)
	switch t.DType {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	case F16:
		quant.DecodeF16(out, t.Data)
	case Q8_0:
		quant.DequantizeQ8_0(out, t.Data)
	case Q4_0:
		quant.DequantizeQ4_0(out, t.Data)
	default:
		panic("gpu: toF32 of unchecked tensor")
	}
	return out
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
