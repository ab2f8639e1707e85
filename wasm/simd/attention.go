package simd

// The module's attention, one block of (sequence, head) pairs a call, so that the
// helper threads can share a forward pass's attention by heads (its products are too
// small to split by columns, and with them on Go's thread alone they held the helpers
// idle for about a tenth of a pass):
//
//	attention(h0, h1, q, k, v, out, probs, scratch, l, hd, ld, d, h, causal i32, scale f32)
//
// runs core/nn's Attention for the pairs j in [h0, h1) (sequence j / h, head j % h), each
// as the Go code does it on this module: pack q's (l, hd) block, gemm_nt against k's into
// probs' (l, l) tile scaled by scale, softmax on the tile, pack it, gemm_nn against v's
// block into out's. So its results are the Go path's to the bit. q, k and v have rows ld
// values apart, out has rows of d = h hd values; scratch holds one packed operand,
// ceil(l/8)·8·max(l, hd) values, reused pair after pair.

// The module's functions that attention calls, by index (module checks the order).
const (
	fnPack = iota
	fnGemmNT
	fnGemmNN
	fnSoftmax
)

// attentionFn: attention(h0, h1, q, k, v, out, probs, scratch, l, hd, ld, d, h, causal, scale).
func attentionFn() *fn {
	f := &fn{params: []byte{tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tI32, tF32}}
	const h0, h1, q, k, v, out, probs, scratch, l, hd, ld, d, h, causal, scale = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14
	j, off, o, p := f.local(tI32), f.local(tI32), f.local(tI32), f.local(tI32)
	f.get(h0).set(j)
	f.whileLess(j, h1)
	{
		// off = (j/h·l·ld + j%h·hd)·4 and o = (j/h·l·d + j%h·hd)·4 bytes; p = probs + j·l·l·4
		f.get(j).get(h).op(opI32DivU).get(l).op(opI32Mul).get(ld).op(opI32Mul)
		f.get(j).get(h).op(opI32RemU).get(hd).op(opI32Mul).op(opI32Add).i32(2).op(opI32Shl).set(off)
		f.get(j).get(h).op(opI32DivU).get(l).op(opI32Mul).get(d).op(opI32Mul)
		f.get(j).get(h).op(opI32RemU).get(hd).op(opI32Mul).op(opI32Add).i32(2).op(opI32Shl).set(o)
		f.get(probs).get(j).get(l).op(opI32Mul).get(l).op(opI32Mul).i32(2).op(opI32Shl).op(opI32Add).set(p)
		// scores = scale q k^T, then their softmax, in the tile
		f.get(l).get(hd).get(q).get(off).op(opI32Add).get(ld).get(scratch).op(opCall).uleb(fnPack)
		f.get(l).get(l).get(hd).get(scratch).get(k).get(off).op(opI32Add).get(ld).get(p).get(l).get(scale).f32(0).op(opCall).uleb(fnGemmNT)
		f.get(p).get(l).get(l).get(causal).op(opCall).uleb(fnSoftmax)
		// out's block = probs v
		f.get(l).get(l).get(p).get(l).get(scratch).op(opCall).uleb(fnPack)
		f.get(l).get(hd).get(l).get(scratch).get(v).get(off).op(opI32Add).get(ld).get(out).get(o).op(opI32Add).get(d).f32(1).f32(0).op(opCall).uleb(fnGemmNN)
		f.addTo(j, 1)
	}
	f.closeWhile()
	return f
}
