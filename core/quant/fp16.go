package quant

import (
	"encoding/binary"
	"math"
)

// F32ToF16 converts f to IEEE 754 binary16, rounding to nearest with ties to
// even; values beyond the half range become ±Inf, tiny values become half
// subnormals or ±0, and NaN stays a (quiet) NaN with its sign and top payload
// bits. This matches the F16C instruction (VCVTPS2PH, round-to-nearest mode)
// that ggml uses on x86.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(man>>13)
	}
	e := exp - 127 + 15 // the half's biased exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Half subnormal (or zero): the result counts units of 2^-24.
		if e < -10 {
			return sign // below half of the smallest subnormal: rounds to zero
		}
		man |= 0x800000 // the implicit leading one (f32 subnormals took the branch above)
		shift := uint(14 - e)
		h := man >> shift
		rem := man & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++ // may carry into the exponent field: that is the right encoding
		}
		return sign | uint16(h)
	}
	h := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry out of the mantissa bumps the exponent, up to Inf
	}
	return sign | uint16(h)
}

// F16ToF32 converts an IEEE 754 binary16 value to float32 exactly (every half,
// subnormals included, is representable as a float32).
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch exp {
	case 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: shift the leading one into the implicit position.
		e := uint32(127 - 15 + 1)
		for man&0x400 == 0 {
			man <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (man&0x3ff)<<13)
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
}

// EncodeF16 writes src as little-endian halves into dst; dst is (2*len(src)).
func EncodeF16(dst []byte, src []float32) {
	if len(dst) != 2*len(src) {
		panic("quant: EncodeF16: len(dst) != 2*len(src)")
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

// DecodeF16 reads little-endian halves from src into dst; src is (2*len(dst)).
func DecodeF16(dst []float32, src []byte) {
	if len(src) != 2*len(dst) {
		panic("quant: DecodeF16: len(src) != 2*len(dst)")
	}
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
