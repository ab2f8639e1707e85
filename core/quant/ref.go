package quant

import (
	"encoding/binary"
	"math"
)

// Block layouts, defined once (ggml-common.h's block_q8_0 and block_q4_0):
//
//	Q8_0: d fp16 (2 bytes, little-endian) | qs [32]int8          -> 34 bytes, x = q*d
//	Q4_0: d fp16 (2 bytes, little-endian) | qs [16]byte nibbles  -> 18 bytes, x = (q-8)*d
//
// In Q4_0, byte j holds element j in its low nibble and element j+16 in its
// high nibble.
const (
	QK            = 32       // values per block
	BlockSizeQ8_0 = 2 + QK   // bytes per Q8_0 block
	BlockSizeQ4_0 = 2 + QK/2 // bytes per Q4_0 block
)

// The functions in this file are the reference: plain loops, every operation
// rounded to float32 (no fused multiply-add), in ggml's order. Faster paths
// must reproduce their output bit for bit. Inputs are assumed finite; NaN or
// Inf inputs give unspecified (but in-range) codes.

// QuantizeQ8_0 quantizes src into Q8_0 blocks; src is (n) with n a multiple of
// 32 and dst is (n/32*34). Per block: d = amax/127, q = round(x/d) with ties
// away from zero, as ggml's quantize_row_q8_0_ref.
func QuantizeQ8_0(dst []byte, src []float32) {
	if len(src)%QK != 0 {
		panic("quant: QuantizeQ8_0: len(src) is not a multiple of 32")
	}
	if len(dst) != len(src)/QK*BlockSizeQ8_0 {
		panic("quant: QuantizeQ8_0: len(dst) != len(src)/32*34")
	}
	for i := 0; i < len(src)/QK; i++ {
		x := src[i*QK : i*QK+QK]
		b := dst[i*BlockSizeQ8_0 : i*BlockSizeQ8_0+BlockSizeQ8_0]
		var amax float32
		for _, v := range x {
			a := abs32(v)
			if !(amax > a) { // ggml's MAX(amax, a): a NaN wins
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(b, F32ToF16(d))
		for j, v := range x {
			b[2+j] = byte(int8(roundAway(float32(v * id))))
		}
	}
}

// DequantizeQ8_0 expands Q8_0 blocks; src is (n/32*34) and dst is (n).
func DequantizeQ8_0(dst []float32, src []byte) {
	if len(dst)%QK != 0 || len(src) != len(dst)/QK*BlockSizeQ8_0 {
		panic("quant: DequantizeQ8_0: len(src) != len(dst)/32*34")
	}
	for i := 0; i < len(dst)/QK; i++ {
		b := src[i*BlockSizeQ8_0 : i*BlockSizeQ8_0+BlockSizeQ8_0]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		for j := 0; j < QK; j++ {
			dst[i*QK+j] = float32(int8(b[2+j])) * d
		}
	}
}

// QuantizeQ4_0 quantizes src into Q4_0 blocks; src is (n) with n a multiple of
// 32 and dst is (n/32*18). Per block, as ggml's quantize_row_q4_0_ref: max is
// the value of largest magnitude (sign kept, first one on ties), d = max/-8,
// q = min(15, int8(x/d + 8.5)) truncating toward zero, so max maps to code 0
// and the other side gets the full 7.5 steps.
func QuantizeQ4_0(dst []byte, src []float32) {
	if len(src)%QK != 0 {
		panic("quant: QuantizeQ4_0: len(src) is not a multiple of 32")
	}
	if len(dst) != len(src)/QK*BlockSizeQ4_0 {
		panic("quant: QuantizeQ4_0: len(dst) != len(src)/32*18")
	}
	for i := 0; i < len(src)/QK; i++ {
		x := src[i*QK : i*QK+QK]
		b := dst[i*BlockSizeQ4_0 : i*BlockSizeQ4_0+BlockSizeQ4_0]
		var amax, max float32
		for _, v := range x {
			if amax < abs32(v) {
				amax = abs32(v)
				max = v
			}
		}
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		binary.LittleEndian.PutUint16(b, F32ToF16(d))
		for j := 0; j < QK/2; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[QK/2+j] * id)
			b[2+j] = nibble(x0) | nibble(x1)<<4
		}
	}
}

// DequantizeQ4_0 expands Q4_0 blocks; src is (n/32*18) and dst is (n).
func DequantizeQ4_0(dst []float32, src []byte) {
	if len(dst)%QK != 0 || len(src) != len(dst)/QK*BlockSizeQ4_0 {
		panic("quant: DequantizeQ4_0: len(src) != len(dst)/32*18")
	}
	for i := 0; i < len(dst)/QK; i++ {
		b := src[i*BlockSizeQ4_0 : i*BlockSizeQ4_0+BlockSizeQ4_0]
		d := F16ToF32(binary.LittleEndian.Uint16(b))
		for j := 0; j < QK/2; j++ {
			x0 := int(b[2+j]&0x0f) - 8
			x1 := int(b[2+j]>>4) - 8
			dst[i*QK+j] = float32(x0) * d
			dst[i*QK+QK/2+j] = float32(x1) * d
		}
	}
}

// Dot returns sum_i x[i]*y[i] in float32 with four partial sums (element i
// goes to sum i%4; the result is (s0+s1)+(s2+s3)). It is the reference for
// DotQ8_0 and DotQ4_0: they equal Dot(dequantized row, x) bit for bit.
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic("quant: Dot: len(x) != len(y)")
	}
	var s [4]float32
	for i := range x {
		s[i%4] += float32(x[i] * y[i])
	}
	return (s[0] + s[1]) + (s[2] + s[3])
}

// nibble is ggml's MIN(15, (int8_t)(x + 8.5f)) stored in a uint8.
func nibble(x float32) byte {
	q := int8(float32(x + 8.5))
	if q > 15 {
		q = 15
	}
	return byte(q) & 0x0f
}

// roundAway is C's roundf: to nearest, ties away from zero (exact in float64).
func roundAway(x float32) float32 { return float32(math.Round(float64(x))) }

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
