package simd

import "github.com/austen-diffusion/textdiffusion/core/quant"

// The module's dequantiser, for the release file's Q8_0 weights: the page turns them
// into float32 once, as it loads, and on a first visit Go's loop for it runs from the
// browser's baseline compiler (about 0.1 s of the load).
//
//	dequant_q8_0(src, dst, n i32)  // n Q8_0 blocks at src (34 bytes each) into 32 n float32 at dst
//
// Each block's scale, an IEEE half, becomes a float32 by bit arithmetic (exactly, as
// core/quant's F16ToF32), and each value is float32(q) * scale, one rounding, so the
// result is core/quant's to the bit.

// The half's bit patterns where its exponent leaves the normal range.
const (
	halfSubnormalLimit = 0x0400
	halfInfinity       = 0x7c00
)

// dequantQ8Fn: dequant_q8_0(src, dst, n).
func dequantQ8Fn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32}}
	const src, dst, n = 0, 1, 2
	end, em, bits := f.local(tI32), f.local(tI32), f.local(tI32)
	scale, q := f.local(tV128), f.local(tV128)
	f.get(src).get(n).i32(quant.BlockSizeQ8_0).op(opI32Mul, opI32Add).set(end)
	f.whileBelow(src, end)
	{
		// The half's magnitude bits em; a normal half moves its exponent bias from 15 to
		// 127 (+112 << 23), infinities and NaNs keep an all-ones exponent (+224 << 23),
		// and zeros and subnormals are em * 2^-24, exact in float32.
		f.get(src).op(opI32Load16U).uleb(0).uleb(0).i32(0x7fff).op(opI32And).set(em)
		f.get(em).i32(13).op(opI32Shl).i32(112 << 23).op(opI32Add)
		f.get(em).i32(13).op(opI32Shl).i32(224 << 23).op(opI32Add)
		f.get(em).i32(halfInfinity).op(opI32LtU, opSelect)
		f.get(em).op(opF32ConvertI32U).f32(1.0/(1<<24)).op(opF32Mul, opI32ReinterpretF)
		f.get(em).i32(halfSubnormalLimit).op(opI32GeU, opSelect).set(bits)
		// the sign bit, from bit 15 to bit 31
		f.get(bits).get(src).op(opI32Load16U).uleb(0).uleb(0).i32(0x8000).op(opI32And).i32(16).op(opI32Shl).op(opI32Or)
		f.op(opF32ReinterpretI).simd(simdF32x4Splat).set(scale)
		for g := range uint32(4) { // 8 values a group: two f32x4
			f.get(src).simd(simdLoad8x8S).uleb(0).uleb(2 + 8*g).set(q)
			for h, ext := range []uint32{simdI32x4ExtLowS, simdI32x4ExtHighS} {
				f.get(dst).get(q).simd(ext).simd(simdF32x4ConvertS).get(scale).simd(simdF32x4Mul)
				f.simd(simdV128Store).uleb(alignF32).uleb(32*g + 16*uint32(h))
			}
		}
		f.addTo(src, quant.BlockSizeQ8_0).addTo(dst, 4*32)
	}
	f.closeWhile()
	return f
}
