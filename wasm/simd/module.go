package simd

// The kernel module, written out instruction by instruction (there is no WebAssembly
// assembler in the toolchain). It imports its memory as env.mem, which is Go's own
// linear memory, so the kernels read Go slices in place, and exports
//
//	pack(m, k, a, lda, dst i32)
//	gemm_nt(m, n, k, ap, b, ldb, c, ldc i32, alpha, beta f32)
//	gemm_nn(m, n, k, ap, b, ldb, c, ldc i32, alpha, beta f32)
//	softmax, swiglu, rmsnorm, add, rope (elementwise.go)
//	attention (attention.go)
//	dequant_q8_0 (quant.go)
//
// pack copies row-major A (m, k) into panels of 8 rows, each stored k-major
// (dst[panel][p][r] = A[8 panel + r, p]), the rows past m as zeros. gemm_nt computes
// C = alpha A B^T + beta C for B (n, k) row-major, gemm_nn
// C = alpha A B + beta C for B (k, n) row-major; both take A packed (ap), C (m, n)
// row-major, byte addresses and strides in elements. Each step multiplies an 8-row panel
// of A (two f32x4 loads) with one value of B broadcast to every lane, for Cols columns at
// a time, into 2 x Cols accumulators: no horizontal sums, and B is read where it lies.
// The last block of columns is shifted left to end at n (its overlap is not stored
// twice), so any m >= 1, n >= Cols works; rows past m are computed on the zero padding
// and not stored. With beta = 0 the old values of C are not read (NaN included).
//
// The module comes in two flavours: a fused one on f32x4.relaxed_madd (relaxed SIMD;
// one FMA instruction where the CPU has one) and a plain one on f32x4.mul + f32x4.add
// for browsers that refuse relaxed SIMD.

// Value types and opcodes, from the WebAssembly core and SIMD specifications.
const (
	tI32  = 0x7f
	tF32  = 0x7d
	tV128 = 0x7b

	opBlock           = 0x02
	opLoop            = 0x03
	opIf              = 0x04
	opElse            = 0x05
	opEnd             = 0x0b
	opBr              = 0x0c
	opCall            = 0x10
	opBrIf            = 0x0d
	opSelect          = 0x1b
	opLocalGet        = 0x20
	opLocalSet        = 0x21
	opF32Load         = 0x2a
	opI32Load16U      = 0x2f
	opF32Store        = 0x38
	opI32Const        = 0x41
	opF32Const        = 0x43
	opI32LtS          = 0x48
	opI32LtU          = 0x49
	opI32LeS          = 0x4c
	opI32GeS          = 0x4e
	opI32Eqz          = 0x45
	opI32GeU          = 0x4f
	opI32DivU         = 0x6e
	opI32RemU         = 0x70
	opI32And          = 0x71
	opI32Or           = 0x72
	opI32ShrU         = 0x76
	opF32Div          = 0x95
	opF32Sqrt         = 0x91
	opF32ConvertI32S  = 0xb2
	opF32ConvertI32U  = 0xb3
	opI32ReinterpretF = 0xbc // i32.reinterpret_f32
	opF32ReinterpretI = 0xbe // f32.reinterpret_i32
	opF32Max          = 0x97
	opF32Eq           = 0x5b
	opI32Add          = 0x6a
	opI32Sub          = 0x6b
	opI32Mul          = 0x6c
	opI32Shl          = 0x74
	opF32Add          = 0x92
	opF32Sub          = 0x93
	opF32Mul          = 0x94
	blockVoid         = 0x40

	simdPrefix          = 0xfd
	simdV128Load        = 0x00
	simdLoad8x8S        = 0x01 // v128.load8x8_s: 8 bytes sign-extended to i16x8
	simdLoad32Splat     = 0x09
	simdV128Const       = 0x0c
	simdShuffle         = 0x0d // i8x16.shuffle
	simdF32x4Splat      = 0x13
	simdF32x4Lane       = 0x1f // f32x4.extract_lane
	simdF32x4Nearest    = 0x6a
	simdI32x4ExtLowS    = 0xa7 // i32x4.extend_low_i16x8_s
	simdI32x4ExtHighS   = 0xa8 // i32x4.extend_high_i16x8_s
	simdI32x4Shl        = 0xab
	simdI32x4Add        = 0xae
	simdF32x4Add        = 0xe4
	simdF32x4Sub        = 0xe5
	simdF32x4Mul        = 0xe6
	simdF32x4Div        = 0xe7
	simdF32x4Min        = 0xe8
	simdF32x4Max        = 0xe9
	simdV128Store       = 0x0b
	simdI32x4TruncF32x4 = 0xf8  // i32x4.trunc_sat_f32x4_s
	simdF32x4ConvertS   = 0xfa  // f32x4.convert_i32x4_s
	simdRelaxedMadd     = 0x105 // f32x4.relaxed_madd(a, b, c) = a*b + c, fused or not
	alignF32            = 2     // log2 of the alignment promised (4 bytes: Go's float32s)

	panelRows = 8 // rows of A per panel: two f32x4
)

// Columns of C per block: 2 x Cols accumulators + 2 panel vectors + Cols broadcast values
// (+ the product, unfused) must fit in the 15 vector registers V8 allocates on x64, because
// its optimizing compiler loads everything an iteration needs before the arithmetic. The
// whole-block store (storeRows) transposes 4x4 quarters, so Cols is 4 in both flavours.
const Cols = 4

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

func (a *asm) get(l uint32) *asm   { return a.op(opLocalGet).uleb(l) }
func (a *asm) set(l uint32) *asm   { return a.op(opLocalSet).uleb(l) }
func (a *asm) i32(v int32) *asm    { return a.op(opI32Const).sleb(v) }
func (a *asm) simd(op uint32) *asm { return a.op(simdPrefix).uleb(op) }

// Memory accesses take the address from the stack and a constant byte offset.
func (a *asm) vload(off uint32) *asm   { return a.simd(simdV128Load).uleb(alignF32).uleb(off) }
func (a *asm) splat(off uint32) *asm   { return a.simd(simdLoad32Splat).uleb(alignF32).uleb(off) }
func (a *asm) f32load(off uint32) *asm { return a.op(opF32Load).uleb(alignF32).uleb(off) }
func (a *asm) f32store(off uint32) *asm {
	return a.op(opF32Store).uleb(alignF32).uleb(off)
}

// addTo does x += step; addLocal does x += y.
func (a *asm) addTo(x uint32, step int32) *asm { return a.get(x).i32(step).op(opI32Add).set(x) }
func (a *asm) addLocal(x, y uint32) *asm       { return a.get(x).get(y).op(opI32Add).set(x) }

// whileLess opens "while x < limit { ... }": body, then closeWhile.
func (a *asm) whileLess(x, limit uint32) *asm {
	return a.op(opBlock, blockVoid, opLoop, blockVoid).get(x).get(limit).op(opI32GeS, opBrIf).uleb(1)
}

func (a *asm) closeWhile() *asm { return a.op(opBr).uleb(0).op(opEnd, opEnd) }

// doWhileBelow closes a loop opened with op(opLoop, blockVoid): repeat while x < limit
// (unsigned: both are addresses).
func (a *asm) doWhileBelow(x, limit uint32) *asm {
	return a.get(x).get(limit).op(opI32LtU, opBrIf).uleb(0).op(opEnd)
}

// fn is one function: its parameters and the locals it declares as it goes.
type fn struct {
	asm
	params     []byte
	locals     []byte
	expK, expF uint32 // vexp's temporaries, once it has run
}

func (f *fn) local(t byte) uint32 {
	f.locals = append(f.locals, t)
	return uint32(len(f.params) + len(f.locals) - 1)
}

// code is the function's entry in the code section.
func (f *fn) code() []byte {
	body := &asm{}
	body.uleb(uint32(len(f.locals)))
	for _, t := range f.locals {
		body.uleb(1).op(t)
	}
	body.op(f.b...).op(opEnd)
	return (&asm{}).uleb(uint32(len(body.b))).op(body.b...).b
}

// packFn: pack(m, k, a, lda, dst).
func packFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32, tI32}}
	const m, k, a, lda, dst = 0, 1, 2, 3, 4
	i, r, src, d, end, panel := f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	f.get(k).i32(4 * panelRows).op(opI32Mul).set(panel) // bytes per panel
	f.get(lda).i32(2).op(opI32Shl).set(lda)             // lda in bytes from here on
	f.i32(0).set(i)
	f.whileLess(i, m)
	{
		f.i32(0).set(r)
		f.whileLess(r, f.constLocal(panelRows))
		{
			f.get(dst).get(r).i32(2).op(opI32Shl).op(opI32Add).set(d)
			f.get(d).get(panel).op(opI32Add).set(end)
			f.get(i).get(r).op(opI32Add).get(m).op(opI32LtS, opIf, blockVoid)
			{ // a row of A: copy it down the panel's column r
				f.get(a).get(i).get(r).op(opI32Add).get(lda).op(opI32Mul).op(opI32Add).set(src)
				f.op(opLoop, blockVoid)
				f.get(d).get(src).f32load(0).f32store(0)
				f.addTo(src, 4).addTo(d, 4*panelRows)
				f.doWhileBelow(d, end)
			}
			f.op(opElse)
			{ // past the last row: zeros
				f.op(opLoop, blockVoid)
				f.get(d).f32(0).f32store(0)
				f.addTo(d, 4*panelRows)
				f.doWhileBelow(d, end)
			}
			f.op(opEnd)
			f.addTo(r, 1)
		}
		f.closeWhile()
		f.addLocal(dst, panel)
		f.addTo(i, panelRows)
	}
	f.closeWhile()
	return f
}

// constLocal returns a local holding v (whileLess compares locals).
func (f *fn) constLocal(v int32) uint32 {
	l := f.local(tI32)
	f.i32(v).set(l)
	return l
}

// gemmFn: gemm_nt (nt) or gemm_nn(m, n, k, ap, b, ldb, c, ldc, alpha, beta).
func gemmFn(nt, fused bool) *fn {
	const cols = Cols
	f := &fn{params: []byte{tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tF32, tF32}}
	const m, n, k, ap, b, ldb, c, ldc, alpha, beta = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
	j0, js, skip, i0, mv, pa, pend, panel, last, rowp, bp := f.local(tI32), f.local(tI32), f.local(tI32),
		f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	col := make([]uint32, cols) // nt: the address of B's row for each column of the block
	if nt {
		for t := range col {
			col[t] = f.local(tI32)
		}
	}
	acc := make([][2]uint32, cols) // acc[t][h]: C rows 4h..4h+3 of the panel, column t
	for t := range acc {
		acc[t] = [2]uint32{f.local(tV128), f.local(tV128)}
	}
	va := [2]uint32{f.local(tV128), f.local(tV128)}
	vs := f.local(tV128)
	tmp := [4]uint32{f.local(tV128), f.local(tV128), f.local(tV128), f.local(tV128)}

	// madd: acc[t][h] += va[h] * vs.
	madd := func(t, h int) {
		if fused {
			f.get(va[h]).get(vs).get(acc[t][h]).simd(simdRelaxedMadd).set(acc[t][h])
		} else {
			f.get(va[h]).get(vs).simd(simdF32x4Mul).get(acc[t][h]).simd(simdF32x4Add).set(acc[t][h])
		}
	}

	f.get(k).i32(4 * panelRows).op(opI32Mul).set(panel)
	f.get(ldb).i32(2).op(opI32Shl).set(ldb) // strides in bytes from here on
	f.get(ldc).i32(2).op(opI32Shl).set(ldc)
	f.get(n).i32(int32(cols)).op(opI32Sub).set(last) // the last block's first column
	f.i32(0).set(j0)
	f.whileLess(j0, n)
	{
		// js = min(j0, n - cols); the columns below j0 were stored by the block before.
		f.get(j0).get(last).get(j0).get(last).op(opI32LeS, opSelect).set(js)
		f.get(j0).get(js).op(opI32Sub).set(skip)
		f.get(ap).set(pa)
		f.i32(0).set(i0)
		f.whileLess(i0, m)
		{
			for t := range acc {
				for h := range 2 {
					f.simd(simdV128Const).op(make([]byte, 16)...).set(acc[t][h])
				}
			}
			f.get(pa).get(panel).op(opI32Add).set(pend)
			if nt {
				// One value of k a step, from each of the block's rows of B. (Unrolling k
				// spills: every load of the wider step is hoisted above the arithmetic.)
				f.get(b).get(js).get(ldb).op(opI32Mul).op(opI32Add).set(col[0])
				for t := 1; t < cols; t++ {
					f.get(col[t-1]).get(ldb).op(opI32Add).set(col[t])
				}
				f.op(opLoop, blockVoid)
				f.get(pa).vload(0).set(va[0])
				f.get(pa).vload(16).set(va[1])
				for t := range cols {
					f.get(col[t]).splat(0).set(vs)
					madd(t, 0)
					madd(t, 1)
				}
				f.addTo(pa, 4*panelRows)
				for t := range cols {
					f.addTo(col[t], 4)
				}
				f.doWhileBelow(pa, pend)
			} else {
				// One value of k a step: B's row p holds the block's columns side by side.
				f.get(b).get(js).i32(2).op(opI32Shl).op(opI32Add).set(bp)
				f.op(opLoop, blockVoid)
				f.get(pa).vload(0).set(va[0])
				f.get(pa).vload(16).set(va[1])
				for t := range cols {
					f.get(bp).splat(uint32(4 * t)).set(vs)
					madd(t, 0)
					madd(t, 1)
				}
				f.addTo(pa, 4*panelRows)
				f.addLocal(bp, ldb)
				f.doWhileBelow(pa, pend)
			}
			// C[i0+r, js+t] = alpha acc (+ beta C), rows below m and columns from j0 only.
			f.get(alpha).simd(simdF32x4Splat).set(vs)
			for t := range acc {
				for h := range 2 {
					f.get(acc[t][h]).get(vs).simd(simdF32x4Mul).set(acc[t][h])
				}
			}
			f.get(m).get(i0).op(opI32Sub).set(mv)
			f.get(c).get(i0).get(ldc).op(opI32Mul).op(opI32Add).get(js).i32(2).op(opI32Shl).op(opI32Add).set(rowp)
			storeBoth := func(store func(beta int)) {
				f.get(beta).f32(0).op(opF32Eq, opIf, blockVoid)
				store(-1)
				f.op(opElse)
				store(beta)
				f.op(opEnd)
			}
			// A whole block (8 rows below m, no overlap) goes out in rows, others by value.
			f.i32(panelRows-1).get(mv).op(opI32LtS).get(skip).op(opI32Eqz, opI32And, opIf, blockVoid)
			storeBoth(func(beta int) { f.storeRows(acc, tmp, rowp, ldc, beta) })
			f.op(opElse)
			storeBoth(func(beta int) { f.store(acc, mv, skip, rowp, ldc, beta) })
			f.op(opEnd)
			f.addTo(i0, panelRows)
		}
		f.closeWhile()
		f.addTo(j0, int32(cols))
	}
	f.closeWhile()
	return f
}

// store writes a finished block: row r when r < mv, column t when t >= skip; beta < 0
// means beta = 0 (C not read), else it is the local holding beta. rowp moves down.
func (f *fn) store(acc [][2]uint32, mv, skip, rowp, ldc uint32, beta int) {
	for r := range panelRows {
		f.i32(int32(r)).get(mv).op(opI32LtS, opIf, blockVoid)
		for t := range Cols {
			f.get(skip).i32(int32(t)).op(opI32LeS, opIf, blockVoid)
			f.get(rowp)
			f.get(acc[t][r/4]).simd(simdF32x4Lane).op(byte(r % 4))
			if beta >= 0 {
				f.get(uint32(beta)).get(rowp).f32load(uint32(4*t)).op(opF32Mul, opF32Add)
			}
			f.f32store(uint32(4 * t))
			f.op(opEnd)
		}
		f.addLocal(rowp, ldc)
		f.op(opEnd)
	}
}

// storeRows writes a whole block of 4 columns: each 4x4 quarter of acc (columns t, rows
// 4h..4h+3) is transposed with shuffles into rows and stored as f32x4. beta as in store.
func (f *fn) storeRows(acc [][2]uint32, tmp [4]uint32, rowp, ldc uint32, beta int) {
	// lanes picks f32 lanes a..d of the pair (x, y), 0-3 from x and 4-7 from y.
	lanes := func(a, b, c, d byte) []byte {
		out := make([]byte, 0, 16)
		for _, l := range []byte{a, b, c, d} {
			out = append(out, 4*l, 4*l+1, 4*l+2, 4*l+3)
		}
		return out
	}
	lo, hi := lanes(0, 4, 1, 5), lanes(2, 6, 3, 7) // interleave
	first, second := lanes(0, 1, 4, 5), lanes(2, 3, 6, 7)
	for h := range 2 {
		f.get(acc[0][h]).get(acc[1][h]).simd(simdShuffle).op(lo...).set(tmp[0])
		f.get(acc[0][h]).get(acc[1][h]).simd(simdShuffle).op(hi...).set(tmp[1])
		f.get(acc[2][h]).get(acc[3][h]).simd(simdShuffle).op(lo...).set(tmp[2])
		f.get(acc[2][h]).get(acc[3][h]).simd(simdShuffle).op(hi...).set(tmp[3])
		for l := range 4 {
			f.get(rowp)
			f.get(tmp[l/2]).get(tmp[2+l/2]).simd(simdShuffle).op([][]byte{first, second}[l%2]...)
			if beta >= 0 {
				f.get(rowp).vload(0).get(uint32(beta)).simd(simdF32x4Splat).simd(simdF32x4Mul).simd(simdF32x4Add)
			}
			f.simd(simdV128Store).uleb(alignF32).uleb(0)
			f.addLocal(rowp, ldc)
		}
	}
}

// Module returns the bytes of the kernel module: fused on relaxed SIMD, or plain. It
// imports an unshared memory, as Go's own instance exports it.
func Module(fused bool) []byte { return module(fused, false) }

// SharedModule is Module importing a shared memory (up to 4 GiB): Go's memory in a binary
// made by ShareMemory, which helper threads run the kernel on too (pool_js.go).
func SharedModule(fused bool) []byte { return module(fused, true) }

func module(fused, shared bool) []byte {
	section := func(id byte, body []byte) []byte {
		return (&asm{}).op(id).uleb(uint32(len(body))).op(body...).b
	}
	vec := func(items ...[]byte) []byte {
		a := (&asm{}).uleb(uint32(len(items)))
		for _, it := range items {
			a.op(it...)
		}
		return a.b
	}
	name := func(s string) []byte { return (&asm{}).uleb(uint32(len(s))).op([]byte(s)...).b }
	sig := func(params []byte) []byte { return append(append([]byte{0x60}, vec(bytesOf(params)...)...), 0) }

	fns := []struct {
		name string
		f    *fn
	}{{"pack", packFn()}, {"gemm_nt", gemmFn(true, fused)}, {"gemm_nn", gemmFn(false, fused)},
		{"softmax", softmaxFn()}, {"swiglu", swigluFn()}, {"rmsnorm", rmsnormFn()}, {"dequant_q8_0", dequantQ8Fn()},
		{"add", addFn()}, {"rope", ropeFn()}, {"attention", attentionFn()}}
	for i, want := range map[int]string{fnPack: "pack", fnGemmNT: "gemm_nt", fnGemmNN: "gemm_nn", fnSoftmax: "softmax"} {
		if fns[i].name != want {
			panic("simd: attention calls function " + fns[i].name + " for " + want)
		}
	}
	var types, funcs, exports, codes [][]byte
	for i, x := range fns {
		types = append(types, sig(x.f.params))
		funcs = append(funcs, (&asm{}).uleb(uint32(i)).b)
		exports = append(exports, append(name(x.name), 0x00, byte(i)))
		codes = append(codes, x.f.code())
	}
	mem := append(append(name("env"), name("mem")...), 0x02, 0x00, 0x00) // memory, min 0, no max
	if shared {
		mem = append(append(name("env"), name("mem")...), 0x02, limitsShared, 0x00)
		mem = (&asm{b: mem}).uleb(maxPages).b // shared memories must declare a maximum
	}

	out := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	out = append(out, section(1, vec(types...))...)
	out = append(out, section(2, vec(mem))...)
	out = append(out, section(3, vec(funcs...))...)
	out = append(out, section(7, vec(exports...))...)
	out = append(out, section(10, vec(codes...))...)
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
