package checkpoint

import (
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// Convert returns a copy of f with each tensor stored in the dtype that
// dtypeOf picks for it, dequantizing first where a tensor is already
// quantized. f is not modified; tensors that keep their dtype share their
// data with f. Non-finite values are refused: quantizing them is undefined,
// and a NaN weight means a broken model anyway.
func Convert(f *File, dtypeOf func(t *Tensor) DType) (*File, error) {
	g := &File{Config: f.Config, Tokenizer: f.Tokenizer, State: f.State, Notes: maps.Clone(f.Notes)}
	g.Tensors = make([]Tensor, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		dt := dtypeOf(t)
		if dt == t.DType {
			g.Tensors[i] = *t
			continue
		}
		if _, err := byteSize(dt, t.Shape); err != nil {
			return nil, fmt.Errorf("tensor %q to %s: %w", t.Name, dt, err)
		}
		x, err := t.Float32()
		if err != nil {
			return nil, err
		}
		for _, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("tensor %q has non-finite values", t.Name)
			}
		}
		u := Tensor{Name: t.Name, Shape: t.Shape, DType: dt}
		switch dt {
		case F32:
			u.F32 = append([]float32(nil), x...)
		case F16:
			u.Raw = make([]byte, 2*len(x))
			quant.EncodeF16(u.Raw, x)
		case Q8_0:
			u.Raw = make([]byte, len(x)/quant.QK*quant.BlockSizeQ8_0)
			quant.QuantizeQ8_0(u.Raw, x)
		case Q4_0:
			u.Raw = make([]byte, len(x)/quant.QK*quant.BlockSizeQ4_0)
			quant.QuantizeQ4_0(u.Raw, x)
		default:
			return nil, fmt.Errorf("tensor %q: %w %d", t.Name, ErrUnknownDType, uint8(dt))
		}
		g.Tensors[i] = u
	}
	return g, nil
}

// Quantizable reports whether a tensor of this shape can be stored in a
// block dtype: a matrix (or higher) whose rows are whole blocks of 32.
// Vectors (norm gains) stay f32 as in ggml: they are tiny and sensitive.
func Quantizable(shape []int) bool {
	return len(shape) >= 2 && shape[len(shape)-1]%quant.QK == 0
}

// Quantize returns f with every tensor stored as dt, except those for which
// keep returns true (nil keeps none) and, for block dtypes, those that are
// not Quantizable: those stay (or become) f32. It records what it did in
// the notes "quant.dtype" and "quant.f32" (the names kept at f32).
func Quantize(f *File, dt DType, keep func(name string) bool) (*File, error) {
	if dt >= numDTypes {
		return nil, fmt.Errorf("%w %d", ErrUnknownDType, uint8(dt))
	}
	var kept []string
	g, err := Convert(f, func(t *Tensor) DType {
		if (keep != nil && keep(t.Name)) || (dt.Blocked() && !Quantizable(t.Shape)) {
			kept = append(kept, t.Name)
			return F32
		}
		return dt
	})
	if err != nil {
		return nil, err
	}
	if g.Notes == nil {
		g.Notes = map[string]string{}
	}
	g.Notes["quant.dtype"] = dt.String()
	g.Notes["quant.f32"] = strings.Join(kept, ",")
	return g, nil
}
