package checkpoint

import (
	"fmt"
	"math/bits"

	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// DType is how a tensor's values are stored in the payload. The zero value is
// F32, so a Tensor literal with only F32 data set is valid.
type DType uint8

const (
	F32  DType = iota // little-endian float32
	F16               // little-endian IEEE half
	Q8_0              // ggml Q8_0 blocks of 32 (34 bytes each)
	Q4_0              // ggml Q4_0 blocks of 32 (18 bytes each)
	numDTypes
)

var dtypeNames = [numDTypes]string{F32: "f32", F16: "f16", Q8_0: "q8_0", Q4_0: "q4_0"}

func (d DType) String() string {
	if d < numDTypes {
		return dtypeNames[d]
	}
	return fmt.Sprintf("dtype(%d)", uint8(d))
}

// ParseDType reads a dtype name as written in the manifest ("f32", "f16",
// "q8_0", "q4_0").
func ParseDType(s string) (DType, error) {
	for d, n := range dtypeNames {
		if n == s {
			return DType(d), nil
		}
	}
	return 0, fmt.Errorf("%w %q (known: f32, f16, q8_0, q4_0)", ErrUnknownDType, s)
}

// MarshalText writes the manifest name.
func (d DType) MarshalText() ([]byte, error) {
	if d >= numDTypes {
		return nil, fmt.Errorf("%w %d", ErrUnknownDType, uint8(d))
	}
	return []byte(dtypeNames[d]), nil
}

// UnmarshalText reads the manifest name.
func (d *DType) UnmarshalText(b []byte) error {
	v, err := ParseDType(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Blocked reports whether the dtype stores blocks of 32 values, which need
// the last dimension to be a multiple of 32 so that each row is whole blocks.
func (d DType) Blocked() bool { return d == Q8_0 || d == Q4_0 }

// maxElems bounds a tensor's element count so byte sizes never overflow.
const maxElems = 1 << 40

// numel returns the element count of shape, or ErrShape for a negative
// dimension or a count beyond maxElems.
func numel(shape []int) (int64, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("%w: negative dimension in shape %v", ErrShape, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > maxElems {
			return 0, fmt.Errorf("%w: shape %v has more than 2^40 elements", ErrShape, shape)
		}
		n = lo
	}
	return int64(n), nil
}

// byteSize returns the payload bytes of a tensor of this shape and dtype.
func byteSize(d DType, shape []int) (int64, error) {
	n, err := numel(shape)
	if err != nil {
		return 0, err
	}
	switch d {
	case F32:
		return 4 * n, nil
	case F16:
		return 2 * n, nil
	case Q8_0, Q4_0:
		if len(shape) == 0 || shape[len(shape)-1]%quant.QK != 0 {
			return 0, fmt.Errorf("%w: %s needs the last dimension of shape %v to be a multiple of 32", ErrShape, d, shape)
		}
		if d == Q8_0 {
			return n / quant.QK * quant.BlockSizeQ8_0, nil
		}
		return n / quant.QK * quant.BlockSizeQ4_0, nil
	}
	return 0, fmt.Errorf("%w %d", ErrUnknownDType, uint8(d))
}
