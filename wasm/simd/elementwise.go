package simd

import "math"

// The module's elementwise kernels, for the loops of the forward pass that cost most in
// Go's wasm, which has no SIMD (softmax and SwiGLU spend it in exp: about 14 ms of a
// 75 ms forward; RMSNorm about 4% of a pass):
//
//	softmax(s, rows, l, causal i32)  // core/nn's softmaxRows on (rows, l) at s
//	swiglu(out, gate, up, n i32)     // out = gate sigmoid(gate) up, n values
//	rmsnorm(out, rstd, in, w, m, d i32, eps f32) // core/nn's RMSNorm on (m, d) rows
//	add(out, a, b, n i32)            // out = a + b, n values (the residual adds)
//	rope(x, ld, cos, sin, rows, l, h, hd i32, sign f32) // core/nn's RoPE, to the bit
//
// exp runs four lanes at a time: e^x = 2^k e^r with k = round(x log2 e) (added to the
// exponent bits) and |r| <= ln2/2 from its degree-6 Taylor series, a relative error of
// a few float32 roundings; the arguments are clamped to [-87.3, 88], where the result stays
// a normal float32.

// ln 2 split so that k ln2Hi is exact for |k| < 2^11: ln2Hi has 12 significant bits.
const ln2Hi, ln2Lo = 0.693359375, -2.12194440e-4

// f32 pushes the float32 v.
func (a *asm) f32(v float32) *asm {
	b := math.Float32bits(v)
	return a.op(opF32Const, byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
}

// vconst pushes an f32x4 of four copies of v.
func (a *asm) vconst(v float32) *asm {
	b := math.Float32bits(v)
	a.simd(simdV128Const)
	for range 4 {
		a.op(byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
	return a
}

// whileBelow opens "while x < limit { ... }" for addresses (unsigned): body, then closeWhile.
func (a *asm) whileBelow(x, limit uint32) *asm {
	return a.op(opBlock, blockVoid, opLoop, blockVoid).get(x).get(limit).op(opI32GeU, opBrIf).uleb(1)
}

// vexp pushes exp of the f32x4 in local x; it overwrites x and uses two more locals.
func (f *fn) vexp(x uint32) {
	if f.expK == 0 {
		f.expK, f.expF = f.local(tV128), f.local(tV128)
	}
	k, fr := f.expK, f.expF
	f.get(x).vconst(-87.3).simd(simdF32x4Max).vconst(88).simd(simdF32x4Min).set(x)
	f.get(x).vconst(math.Log2E).simd(simdF32x4Mul).simd(simdF32x4Nearest).set(k)
	// r = x - k ln 2 in two steps (Cody and Waite): k ln2Hi is exact, so r keeps its bits.
	f.get(x).get(k).vconst(ln2Hi).simd(simdF32x4Mul).simd(simdF32x4Sub)
	f.get(k).vconst(ln2Lo).simd(simdF32x4Mul).simd(simdF32x4Sub).set(fr)
	// e^r = 1 + r(1 + r/2(1 + r/3(1 + r/4(1 + r/5(1 + r/6)))))
	f.vconst(1)
	for i := 6; i >= 1; i-- {
		f.get(fr).simd(simdF32x4Mul).vconst(1 / float32(i)).simd(simdF32x4Mul).vconst(1).simd(simdF32x4Add)
	}
	f.get(k).simd(simdI32x4TruncF32x4).i32(23).simd(simdI32x4Shl).simd(simdI32x4Add)
}

// softmaxFn: softmax(s, rows, l, causal).
func softmaxFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32}}
	const s, rows, l, causal = 0, 1, 2, 3
	r, row, n, p, end4, end, rowEnd := f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	mx, sum := f.local(tF32), f.local(tF32)
	v, acc := f.local(tV128), f.local(tV128)
	hreduce := func(op byte) { // pushes op over acc's four lanes
		f.get(acc).simd(simdF32x4Lane).op(0).get(acc).simd(simdF32x4Lane).op(1).op(op)
		f.get(acc).simd(simdF32x4Lane).op(2).get(acc).simd(simdF32x4Lane).op(3).op(op).op(op)
	}
	f.i32(0).set(r).get(s).set(row)
	f.whileLess(r, rows)
	{
		// n = causal ? r%l + 1 : l
		f.get(r).get(l).op(opI32RemU).i32(1).op(opI32Add).get(l).get(causal).op(opSelect).set(n)
		f.get(row).get(n).i32(2).op(opI32Shl).op(opI32Add).set(end)
		f.get(row).get(n).i32(-4).op(opI32And).i32(2).op(opI32Shl).op(opI32Add).set(end4)
		f.get(row).get(l).i32(2).op(opI32Shl).op(opI32Add).set(rowEnd)
		// the row's maximum
		f.vconst(float32(math.Inf(-1))).set(acc)
		f.get(row).set(p)
		f.whileBelow(p, end4)
		f.get(acc).get(p).vload(0).simd(simdF32x4Max).set(acc)
		f.addTo(p, 16).closeWhile()
		hreduce(opF32Max)
		f.set(mx)
		f.whileBelow(p, end)
		f.get(mx).get(p).f32load(0).op(opF32Max).set(mx)
		f.addTo(p, 4).closeWhile()
		// e = exp(x - max), stored, and their sum
		f.simd(simdV128Const).op(make([]byte, 16)...).set(acc)
		f.get(row).set(p)
		f.whileBelow(p, end4)
		f.get(p).vload(0).get(mx).simd(simdF32x4Splat).simd(simdF32x4Sub).set(v)
		f.vexp(v)
		f.set(v)
		f.get(p).get(v).simd(simdV128Store).uleb(alignF32).uleb(0)
		f.get(acc).get(v).simd(simdF32x4Add).set(acc)
		f.addTo(p, 16).closeWhile()
		hreduce(opF32Add)
		f.set(sum)
		f.whileBelow(p, end)
		f.get(p).f32load(0).get(mx).op(opF32Sub).simd(simdF32x4Splat).set(v)
		f.vexp(v)
		f.set(v)
		f.get(p).get(v).simd(simdF32x4Lane).op(0).f32store(0)
		f.get(sum).get(v).simd(simdF32x4Lane).op(0).op(opF32Add).set(sum)
		f.addTo(p, 4).closeWhile()
		// scale by 1/sum
		f.f32(1).get(sum).op(opF32Div).set(sum)
		f.get(sum).simd(simdF32x4Splat).set(acc)
		f.get(row).set(p)
		f.whileBelow(p, end4)
		f.get(p).get(p).vload(0).get(acc).simd(simdF32x4Mul).simd(simdV128Store).uleb(alignF32).uleb(0)
		f.addTo(p, 16).closeWhile()
		f.whileBelow(p, end)
		f.get(p).get(p).f32load(0).get(sum).op(opF32Mul).f32store(0)
		f.addTo(p, 4).closeWhile()
		// the masked (causal) columns
		f.whileBelow(p, rowEnd)
		f.get(p).f32(0).f32store(0)
		f.addTo(p, 4).closeWhile()
		f.get(rowEnd).set(row)
		f.addTo(r, 1)
	}
	f.closeWhile()
	return f
}

// swigluFn: swiglu(out, gate, up, n): out = gate up / (1 + exp(-gate)).
func swigluFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32}}
	const out, gate, up, n = 0, 1, 2, 3
	end4, end, g := f.local(tI32), f.local(tI32), f.local(tV128)
	v := f.local(tV128)
	f.get(out).get(n).i32(2).op(opI32Shl).op(opI32Add).set(end)
	f.get(out).get(n).i32(-4).op(opI32And).i32(2).op(opI32Shl).op(opI32Add).set(end4)
	step := func(load func(ptr uint32), width int32, store func()) {
		load(gate)
		f.set(g)
		f.vconst(0).get(g).simd(simdF32x4Sub).set(v)
		f.vexp(v)
		f.vconst(1).simd(simdF32x4Add).set(v) // 1 + exp(-g)
		f.get(out)
		f.get(g)
		load(up)
		f.simd(simdF32x4Mul).get(v).simd(simdF32x4Div)
		store()
		for _, x := range []uint32{out, gate, up} {
			f.addTo(x, width)
		}
	}
	f.whileBelow(out, end4)
	step(func(ptr uint32) { f.get(ptr).vload(0) }, 16, func() { f.simd(simdV128Store).uleb(alignF32).uleb(0) })
	f.closeWhile()
	f.whileBelow(out, end)
	step(func(ptr uint32) { f.get(ptr).f32load(0).simd(simdF32x4Splat) }, 4, func() { f.simd(simdF32x4Lane).op(0).f32store(0) })
	f.closeWhile()
	return f
}

// rmsnormFn: rmsnorm(out, rstd, in, w, m, d, eps): per row, rs = 1/sqrt(mean(in^2) + eps)
// into rstd, out = in rs w.
func rmsnormFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32, tI32, tI32, tF32}}
	const out, rstd, in, w, m, d, eps = 0, 1, 2, 3, 4, 5, 6
	r, p, end4, end, wp := f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	ss := f.local(tF32)
	acc, v := f.local(tV128), f.local(tV128)
	f.i32(0).set(r)
	f.whileLess(r, m)
	{
		f.get(in).get(d).i32(2).op(opI32Shl).op(opI32Add).set(end)
		f.get(in).get(d).i32(-4).op(opI32And).i32(2).op(opI32Shl).op(opI32Add).set(end4)
		// sum of squares
		f.simd(simdV128Const).op(make([]byte, 16)...).set(acc)
		f.get(in).set(p)
		f.whileBelow(p, end4)
		f.get(p).vload(0).set(v)
		f.get(acc).get(v).get(v).simd(simdF32x4Mul).simd(simdF32x4Add).set(acc)
		f.addTo(p, 16).closeWhile()
		f.get(acc).simd(simdF32x4Lane).op(0).get(acc).simd(simdF32x4Lane).op(1).op(opF32Add)
		f.get(acc).simd(simdF32x4Lane).op(2).get(acc).simd(simdF32x4Lane).op(3).op(opF32Add).op(opF32Add).set(ss)
		f.whileBelow(p, end)
		f.get(ss).get(p).f32load(0).get(p).f32load(0).op(opF32Mul, opF32Add).set(ss)
		f.addTo(p, 4).closeWhile()
		// rs = 1 / sqrt(ss/d + eps)
		f.f32(1)
		f.get(ss).get(d).op(opF32ConvertI32S, opF32Div).get(eps).op(opF32Add, opF32Sqrt, opF32Div).set(ss)
		f.get(rstd).get(ss).f32store(0)
		f.addTo(rstd, 4)
		// out = in rs w
		f.get(ss).simd(simdF32x4Splat).set(acc)
		f.get(in).set(p)
		f.get(w).set(wp)
		f.whileBelow(p, end4)
		f.get(out).get(p).vload(0).get(acc).simd(simdF32x4Mul).get(wp).vload(0).simd(simdF32x4Mul)
		f.simd(simdV128Store).uleb(alignF32).uleb(0)
		f.addTo(p, 16).addTo(wp, 16).addTo(out, 16).closeWhile()
		f.whileBelow(p, end)
		f.get(out).get(p).f32load(0).get(ss).op(opF32Mul).get(wp).f32load(0).op(opF32Mul).f32store(0)
		f.addTo(p, 4).addTo(wp, 4).addTo(out, 4).closeWhile()
		f.get(end).set(in)
		f.addTo(r, 1)
	}
	f.closeWhile()
	return f
}

// addFn: add(out, a, b, n): out = a + b over n values (out may be a or b).
func addFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32}}
	const out, a, b, n = 0, 1, 2, 3
	end4, end := f.local(tI32), f.local(tI32)
	f.get(out).get(n).i32(2).op(opI32Shl).op(opI32Add).set(end)
	f.get(out).get(n).i32(-4).op(opI32And).i32(2).op(opI32Shl).op(opI32Add).set(end4)
	f.whileBelow(out, end4)
	f.get(out).get(a).vload(0).get(b).vload(0).simd(simdF32x4Add).simd(simdV128Store).uleb(alignF32).uleb(0)
	f.addTo(out, 16).addTo(a, 16).addTo(b, 16).closeWhile()
	f.whileBelow(out, end)
	f.get(out).get(a).f32load(0).get(b).f32load(0).op(opF32Add).f32store(0)
	f.addTo(out, 4).addTo(a, 4).addTo(b, 4).closeWhile()
	return f
}

// ropeFn: rope(x, ld, cos, sin, rows, l, h, hd, sign): core/nn's rope on rows rows of x
// (stride ld values), row r at position r % l, h heads of hd values each (hd/2 a multiple
// of 4), cos and sin (l, hd/2): v[i], v[i+hd/2] = a c - b s, b c + a s with s = sign sin,
// each product rounded before the sum, as Go's loop does.
func ropeFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tF32}}
	const x, ld, cos, sin, rows, l, h, hd, sign = 0, 1, 2, 3, 4, 5, 6, 7, 8
	r, k, row, v, vend, cp, sp, half := f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	a, b, c, s, sg := f.local(tV128), f.local(tV128), f.local(tV128), f.local(tV128), f.local(tV128)
	f.get(hd).i32(1).op(opI32ShrU).i32(2).op(opI32Shl).set(half) // bytes of a half head
	f.get(ld).i32(2).op(opI32Shl).set(ld)
	f.get(sign).simd(simdF32x4Splat).set(sg)
	f.i32(0).set(r).get(x).set(row)
	f.whileLess(r, rows)
	{
		f.i32(0).set(k)
		f.get(row).set(v)
		f.whileLess(k, h)
		{
			// one head: the row's cos and sin from position r % l
			f.get(cos).get(r).get(l).op(opI32RemU).get(half).op(opI32Mul).op(opI32Add).set(cp)
			f.get(sin).get(r).get(l).op(opI32RemU).get(half).op(opI32Mul).op(opI32Add).set(sp)
			f.get(v).get(half).op(opI32Add).set(vend)
			f.whileBelow(v, vend)
			f.get(v).vload(0).set(a)
			f.get(v).get(half).op(opI32Add).vload(0).set(b)
			f.get(cp).vload(0).set(c)
			f.get(sp).vload(0).get(sg).simd(simdF32x4Mul).set(s)
			f.get(v).get(a).get(c).simd(simdF32x4Mul).get(b).get(s).simd(simdF32x4Mul).simd(simdF32x4Sub).simd(simdV128Store).uleb(alignF32).uleb(0)
			f.get(v).get(half).op(opI32Add).get(b).get(c).simd(simdF32x4Mul).get(a).get(s).simd(simdF32x4Mul).simd(simdF32x4Add).simd(simdV128Store).uleb(alignF32).uleb(0)
			f.addTo(v, 16).addTo(cp, 16).addTo(sp, 16).closeWhile()
			f.get(v).get(half).op(opI32Add).set(v) // past the head's second half
			f.addTo(k, 1)
		}
		f.closeWhile()
		f.get(row).get(ld).op(opI32Add).set(row)
		f.addTo(r, 1)
	}
	f.closeWhile()
	return f
}
