package simd

// The kernel module, written out instruction by instruction (there is no WebAssembly
// assembler in the toolchain). It imports its memory as env.mem, which is Go's own
// linear memory, so the kernel reads Go slices in place, and exports
//
//	sgemm_nt(m, n, k, a, lda, b, ldb, c, ldc i32, alpha, beta f32)
//
// computing C = alpha A B^T + beta C for row-major A (m, k), B (n, k) and C (m, n); a, b
// and c are byte addresses and lda, ldb and ldc strides in elements. It needs m even, n a
// multiple of 4 and k a multiple of 4 (the caller does the edges): each inner step
// multiplies a 2-row block of A with a 4-row block of B, 4 values of k at a time, in 8
// f32x4 accumulators, few enough to stay in registers. With beta = 0 the old values of C
// do not matter (NaN included).

// Value types and opcodes, from the WebAssembly core and SIMD specifications.
const (
	tI32  = 0x7f
	tF32  = 0x7d
	tV128 = 0x7b

	opBlock    = 0x02
	opLoop     = 0x03
	opEnd      = 0x0b
	opBr       = 0x0c
	opBrIf     = 0x0d
	opSelect   = 0x1b
	opLocalGet = 0x20
	opLocalSet = 0x21
	opF32Load  = 0x2a
	opF32Store = 0x38
	opI32Const = 0x41
	opF32Const = 0x43
	opI32GeS   = 0x4e
	opF32Ne    = 0x5c
	opI32Add   = 0x6a
	opI32Mul   = 0x6c
	opI32Shl   = 0x74
	opF32Add   = 0x92
	opF32Mul   = 0x94
	blockVoid  = 0x40

	simdPrefix       = 0xfd
	simdV128Load     = 0x00
	simdV128Const    = 0x0c
	simdF32x4Lane    = 0x1f // f32x4.extract_lane
	simdF32x4Add     = 0xe4
	simdF32x4Mul     = 0xe6
	alignF32, alignV = 2, 2 // log2 of the alignment promised (4 bytes: Go's float32s)
)

// Locals of sgemm_nt: the 11 parameters, then 12 i32 and 11 v128 of its own.
const (
	lM, lN, lK, lA, lLda, lB, lLdb, lC, lLdc, lAlpha, lBeta = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10

	lI, lJ, lP, lKB = 11, 12, 13, 14 // loop counters; lP and lKB in bytes
	lA0, lA1        = 15, 16         // addresses of the two rows of A
	lB0, lB1        = 17, 18         // addresses of the four rows of B
	lB2, lB3        = 19, 20
	lC0, lC1        = 21, 22 // addresses of C[i, j] and C[i+1, j]
	nI32            = 12

	lAcc       = 23 // acc[r][t] = lAcc + 4r + t, for A row r and B row t
	lVA0, lVA1 = 31, 32
	lVB        = 33
	nV128      = 11
)

type asm struct{ b []byte }

func (a *asm) op(bs ...byte) *asm { a.b = append(a.b, bs...); return a }

func (a *asm) uleb(v uint32) *asm {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		a.b = append(a.b, c)
		if v == 0 {
			return a
		}
	}
}

func (a *asm) sleb(v int32) *asm {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			a.b = append(a.b, c)
			return a
		}
		a.b = append(a.b, c|0x80)
	}
}

func (a *asm) get(l uint32) *asm       { return a.op(opLocalGet).uleb(l) }
func (a *asm) set(l uint32) *asm       { return a.op(opLocalSet).uleb(l) }
func (a *asm) i32(v int32) *asm        { return a.op(opI32Const).sleb(v) }
func (a *asm) simd(op uint32) *asm     { return a.op(simdPrefix).uleb(op) }
func (a *asm) vload() *asm             { return a.simd(simdV128Load).uleb(alignV).uleb(0) }
func (a *asm) f32load(off uint32) *asm { return a.op(opF32Load).uleb(alignF32).uleb(off) }

// addr pushes base + (row*stride << 2).
func (a *asm) addr(base, row, stride uint32) *asm {
	return a.get(base).get(row).get(stride).op(opI32Mul).i32(2).op(opI32Shl).op(opI32Add)
}

// whileLess opens "while x < limit { ... }": body, then closeWhile.
func (a *asm) whileLess(x, limit uint32) *asm {
	return a.op(opBlock, blockVoid, opLoop, blockVoid).get(x).get(limit).op(opI32GeS, opBrIf).uleb(1)
}

func (a *asm) closeWhile() *asm { return a.op(opBr).uleb(0).op(opEnd, opEnd) }

// addTo does x += step.
func (a *asm) addTo(x uint32, step int32) *asm { return a.get(x).i32(step).op(opI32Add).set(x) }

func kernelBody() []byte {
	a := &asm{}
	// kb = k*4: the inner loop runs a byte offset p over a row.
	a.get(lK).i32(2).op(opI32Shl).set(lKB)
	a.i32(0).set(lJ)
	a.whileLess(lJ, lN)
	{
		a.addr(lB, lJ, lLdb).set(lB0)
		for t, l := range []uint32{lB1, lB2, lB3} {
			a.get([]uint32{lB0, lB1, lB2}[t]).get(lLdb).i32(2).op(opI32Shl).op(opI32Add).set(l)
		}
		a.i32(0).set(lI)
		a.whileLess(lI, lM)
		{
			a.addr(lA, lI, lLda).set(lA0)
			a.get(lA0).get(lLda).i32(2).op(opI32Shl).op(opI32Add).set(lA1)
			for r := uint32(0); r < 8; r++ {
				a.simd(simdV128Const).op(make([]byte, 16)...).set(lAcc + r)
			}
			a.i32(0).set(lP)
			a.whileLess(lP, lKB)
			{
				a.get(lA0).get(lP).op(opI32Add).vload().set(lVA0)
				a.get(lA1).get(lP).op(opI32Add).vload().set(lVA1)
				for t, bt := range []uint32{lB0, lB1, lB2, lB3} {
					a.get(bt).get(lP).op(opI32Add).vload().set(lVB)
					for r, va := range []uint32{lVA0, lVA1} {
						acc := lAcc + uint32(4*r+t)
						a.get(acc).get(va).get(lVB).simd(simdF32x4Mul).simd(simdF32x4Add).set(acc)
					}
				}
				a.addTo(lP, 16)
			}
			a.closeWhile()
			// C[i+r, j+t] = alpha*sum(acc[r][t]) (+ beta*C[i+r, j+t] when beta != 0)
			a.get(lC).get(lI).get(lLdc).op(opI32Mul).get(lJ).op(opI32Add).i32(2).op(opI32Shl).op(opI32Add).set(lC0)
			a.get(lC0).get(lLdc).i32(2).op(opI32Shl).op(opI32Add).set(lC1)
			for r, cr := range []uint32{lC0, lC1} {
				for t := uint32(0); t < 4; t++ {
					acc := lAcc + uint32(4*r) + t
					a.get(cr) // the store's address
					// alpha * ((l0 + l1) + (l2 + l3))
					a.get(acc).simd(simdF32x4Lane).op(0).get(acc).simd(simdF32x4Lane).op(1).op(opF32Add)
					a.get(acc).simd(simdF32x4Lane).op(2).get(acc).simd(simdF32x4Lane).op(3).op(opF32Add)
					a.op(opF32Add).get(lAlpha).op(opF32Mul)
					// + (beta != 0 ? beta*C : 0), so that with beta = 0 a NaN in C is not kept
					a.get(lBeta).get(cr).f32load(4 * t).op(opF32Mul)
					a.op(opF32Const, 0, 0, 0, 0)
					a.get(lBeta).op(opF32Const, 0, 0, 0, 0).op(opF32Ne)
					a.op(opSelect, opF32Add)
					a.op(opF32Store).uleb(alignF32).uleb(4 * t)
				}
			}
			a.addTo(lI, 2)
		}
		a.closeWhile()
		a.addTo(lJ, 4)
	}
	a.closeWhile()
	return a.b
}

// Module returns the bytes of the kernel module.
func Module() []byte {
	section := func(id byte, body []byte) []byte {
		a := &asm{}
		a.op(id).uleb(uint32(len(body))).op(body...)
		return a.b
	}
	vec := func(items ...[]byte) []byte {
		a := &asm{}
		a.uleb(uint32(len(items)))
		for _, it := range items {
			a.op(it...)
		}
		return a.b
	}
	name := func(s string) []byte { a := &asm{}; return a.uleb(uint32(len(s))).op([]byte(s)...).b }

	params := []byte{tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tF32, tF32}
	sig := append(append([]byte{0x60}, vec(bytesOf(params)...)...), 0)   // func, params, no results
	mem := append(append(name("env"), name("mem")...), 0x02, 0x00, 0x00) // memory, min 0, no max
	export := append(name("sgemm_nt"), 0x00, 0x00)                       // function 0

	locals := &asm{}
	locals.uleb(2).uleb(nI32).op(tI32).uleb(nV128).op(tV128)
	body := append(locals.b, kernelBody()...)
	body = append(body, opEnd)
	code := (&asm{}).uleb(uint32(len(body))).op(body...).b

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, vec(sig))...)
	out = append(out, section(2, vec(mem))...)
	out = append(out, section(3, vec([]byte{0}))...)
	out = append(out, section(7, vec(export))...)
	out = append(out, section(10, vec(code))...)
	return out
}

// bytesOf splits b into one-byte items for vec.
func bytesOf(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}
