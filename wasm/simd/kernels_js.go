//go:build js && wasm

package simd

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"syscall/js"

	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/quant"
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Sgemm computes C = alpha op(A) op(B) + beta C like gonum's. With A not transposed
// and n >= the kernels' block of columns it packs A into panels (a copy of m x k values,
// small next to the 2 m n k operations) and runs gemm_nt or gemm_nn on B in place;
// other cases (the backward pass's A^T, tiny n, shapes gonum refuses) go to gonum.
func (s *Impl) Sgemm(tA, tB gblas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	nt := tB == gblas.Trans
	bRows, bCols := k, n
	if nt {
		bRows, bCols = n, k
	}
	if tA != gblas.NoTrans || tB != gblas.Trans && tB != gblas.NoTrans || m <= 0 || n < Cols || k <= 0 ||
		lda < k || ldb < bCols || ldc < n || len(a) < (m-1)*lda+k || len(b) < (bRows-1)*ldb+bCols || len(c) < (m-1)*ldc+n {
		gonum.Implementation{}.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) // gonum also panics on bad shapes
		return
	}
	need := (m + panelRows - 1) / panelRows * panelRows * k
	if len(s.packed) < need {
		s.packed = make([]float32, need)
	}
	s.pack.Invoke(m, k, addr(a), lda, addr(s.packed))
	kernel := s.nn
	if nt {
		kernel = s.nt
	}
	if s.pool == nil || !s.pool.gemm(kernel, nt, m, n, k, addr(s.packed), addr(b), ldb, addr(c), ldc, alpha, beta) {
		kernel.Invoke(m, n, k, addr(s.packed), addr(b), ldb, addr(c), ldc, alpha, beta)
	}
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}

// Kernels are the module's softmax, SwiGLU and RMSNorm for nn.UseKernels.
func (s *Impl) Kernels() nn.Kernels {
	return nn.Kernels{Softmax: s.Softmax, SwiGLU: s.SwiGLU, RMSNorm: s.RMSNorm, Add: s.Add, Rope: s.Rope, Attention: s.Attention}
}

// RMSNorm computes out = in / sqrt(mean(in^2) + eps) * w per row of in (m, d) and the
// reciprocal roots into rstd (m), as core/nn's RMSNorm.
func (s *Impl) RMSNorm(out, rstd, in, w []float32, m, d int, eps float32) {
	if m <= 0 || d <= 0 {
		return
	}
	if len(out) < m*d || len(in) < m*d || len(w) < d || len(rstd) < m {
		panic("simd: RMSNorm size mismatch")
	}
	s.rmsnorm.Invoke(addr(out), addr(rstd), addr(in), addr(w), m, d, eps)
	runtime.KeepAlive(out)
	runtime.KeepAlive(rstd)
	runtime.KeepAlive(in)
	runtime.KeepAlive(w)
}

// Softmax replaces each row of p (rows, l) by its softmax; with causal, row r sees only
// columns <= r % l and the rest become 0 (core/nn's softmaxRows).
func (s *Impl) Softmax(p []float32, rows, l int, causal bool) {
	if rows <= 0 || l <= 0 {
		return
	}
	if len(p) < rows*l {
		panic("simd: Softmax size mismatch")
	}
	s.softmax.Invoke(addr(p), rows, l, causal)
	runtime.KeepAlive(p)
}

// SwiGLU computes out = gate sigmoid(gate) up over len(out) values.
func (s *Impl) SwiGLU(out, gate, up []float32) { elementwise2(s.swiglu, "SwiGLU", out, gate, up) }

// Add computes out = a + b over len(out) values (out may be a or b).
func (s *Impl) Add(out, a, b []float32) { elementwise2(s.add, "Add", out, a, b) }

// elementwise2 runs the module's fn(out, a, b, n) over the n = len(out) values of out.
func elementwise2(fn js.Value, name string, out, a, b []float32) {
	n := len(out)
	if n == 0 {
		return
	}
	if len(a) < n || len(b) < n {
		panic("simd: " + name + " size mismatch")
	}
	fn.Invoke(addr(out), addr(a), addr(b), n)
	runtime.KeepAlive(out)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
}

// Rope is core/nn's RoPE rotation, to the bit: rows rows of x (stride ld), row r at
// position r % l, h heads of hd values, hd a multiple of 8; cos and sin are (l, hd/2);
// sign is 1 (forward) or -1 (backward).
func (s *Impl) Rope(x []float32, ld int, cos, sin []float32, rows, l, h, hd int, sign float32) {
	if rows <= 0 || h <= 0 {
		return
	}
	if hd <= 0 || hd%8 != 0 || ld < h*hd || len(x) < (rows-1)*ld+h*hd || l <= 0 || len(cos) < l*hd/2 || len(sin) < l*hd/2 {
		panic("simd: Rope size mismatch")
	}
	s.rope.Invoke(addr(x), ld, addr(cos), addr(sin), rows, l, h, hd, sign)
	runtime.KeepAlive(x)
	runtime.KeepAlive(cos)
	runtime.KeepAlive(sin)
}

// Attention is core/nn's Attention after its checks, on the module: each (sequence,
// head) pair's products and softmax run as the Go code runs them on this Impl's Sgemm
// and Softmax, so the results are the same to the bit, but in one call a block of pairs,
// and the pairs are shared out to the helper threads. It reports false, having done
// nothing, for shapes the products would leave to gonum (l or hd under Cols).
func (s *Impl) Attention(out, probs, q, k, v []float32, ld, b, l, h, hd int, causal bool, scale float32) bool {
	d, pairs := h*hd, b*h
	if l < Cols || hd < Cols {
		return false
	}
	in := (b*l-1)*ld + d
	if ld < d || len(out) < b*l*d || len(q) < in || len(k) < in || len(v) < in || len(probs) < pairs*l*l {
		panic("simd: Attention size mismatch")
	}
	stride := (l + panelRows - 1) / panelRows * panelRows * max(l, hd) // one packed operand, in values
	chunks, chunk := 0, pairs
	if s.pool != nil {
		chunks, chunk = s.pool.attentionChunks(pairs, l, hd)
	}
	need := max(chunks, 1) * stride
	if len(s.attnPacked) < need {
		s.attnPacked = make([]float32, need)
	}
	c := 0
	if causal {
		c = 1
	}
	if chunks > 0 {
		s.pool.attention(s.attention, chunks, chunk, pairs, addr(q), addr(k), addr(v), addr(out), addr(probs), addr(s.attnPacked), 4*stride,
			l, hd, ld, d, h, c, scale)
	} else {
		s.attention.Invoke(0, pairs, addr(q), addr(k), addr(v), addr(out), addr(probs), addr(s.attnPacked), l, hd, ld, d, h, c, scale)
	}
	runtime.KeepAlive(out)
	runtime.KeepAlive(probs)
	runtime.KeepAlive(q)
	runtime.KeepAlive(k)
	runtime.KeepAlive(v)
	return true
}

// checkElementwise compares Softmax, SwiGLU and RMSNorm with float64 loops.
func (s *Impl) checkElementwise() error {
	const rows, l = 5, 7
	p := make([]float32, rows*l)
	for i := range p {
		p[i] = float32(4 * math.Sin(float64(i)))
	}
	want := make([]float64, len(p))
	for r := range rows {
		n := r%l + 1
		var sum float64
		for j := range n {
			sum += math.Exp(float64(p[r*l+j] - p[r*l]))
		}
		for j := range n {
			want[r*l+j] = math.Exp(float64(p[r*l+j]-p[r*l])) / sum
		}
	}
	s.Softmax(p, rows, l, true)
	for i := range p {
		if d := math.Abs(float64(p[i]) - want[i]); !(d <= 1e-6) {
			return fmt.Errorf("simd: self-check: softmax[%d] = %g, want %g", i, p[i], want[i])
		}
	}
	gate, up, out := p[:10], make([]float32, 10), make([]float32, 10)
	for i := range gate {
		gate[i] = float32(i-4) * 3
		up[i] = float32(i) * 0.5
	}
	s.SwiGLU(out, gate, up)
	for i, g := range gate {
		w := float64(g) / (1 + math.Exp(-float64(g))) * float64(up[i])
		if d := math.Abs(float64(out[i]) - w); !(d <= 1e-6*(1+math.Abs(w))) {
			return fmt.Errorf("simd: self-check: swiglu(%g) = %g, want %g", g, out[i], w)
		}
	}
	const d = 5 // two rows: one vector and a tail each
	rstd := make([]float32, 2)
	s.RMSNorm(out[:2*d], rstd, gate[:2*d], up[:d], 2, d, 1e-5)
	for r := range 2 {
		var ss float64
		for _, x := range gate[r*d : r*d+d] {
			ss += float64(x) * float64(x)
		}
		rs := 1 / math.Sqrt(ss/d+1e-5)
		for i := range d {
			w := float64(gate[r*d+i]) * rs * float64(up[i])
			if e := math.Abs(float64(out[r*d+i]) - w); !(e <= 1e-6*(1+math.Abs(w))) {
				return fmt.Errorf("simd: self-check: rmsnorm[%d,%d] = %g, want %g", r, i, out[r*d+i], w)
			}
		}
	}
	// add, with a tail; rope, one row of two 8-value heads
	s.Add(out[:7], gate[:7], up[:7])
	for i := range 7 {
		if out[i] != gate[i]+up[i] {
			return fmt.Errorf("simd: self-check: add[%d] = %g, want %g", i, out[i], gate[i]+up[i])
		}
	}
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, -1, -2, -3, -4, -5, -6, -7, -8}
	cos, sin := []float32{1, 1, 1, 1, 0.5, 0.25, -0.5, 0}, []float32{0, 0, 0, 0, 0.75, -1, 0.125, 1}
	rotated := slices.Clone(x)
	for h := range 2 {
		v := rotated[8*h : 8*h+8]
		for i := range 4 {
			a, b, c, sn := v[i], v[i+4], cos[4+i], sin[4+i]
			v[i], v[i+4] = a*c-b*sn, b*c+a*sn
		}
	}
	s.Rope(x, 16, cos, sin, 1, 2, 2, 8, 1)         // position 0: cos 1, sin 0, no change
	s.Rope(x, 16, cos[4:], sin[4:], 1, 1, 2, 8, 1) // the table's second row
	if !slices.Equal(x, rotated) {
		return fmt.Errorf("simd: self-check: rope gave %v, want %v", x, rotated)
	}
	return nil
}

// QuantKernels are the module's dequantisers for quant.UseKernels.
func (s *Impl) QuantKernels() quant.Kernels { return quant.Kernels{Q8_0: s.DequantizeQ8_0} }

// DequantizeQ8_0 is quant.DequantizeQ8_0Fast on the module, to the bit: src holds
// len(dst)/32 blocks of Q8_0.
func (s *Impl) DequantizeQ8_0(dst []float32, src []byte) {
	if len(dst)%quant.QK != 0 || len(src) != len(dst)/quant.QK*quant.BlockSizeQ8_0 {
		panic("simd: DequantizeQ8_0: len(src) != len(dst)/32*34")
	}
	if len(dst) == 0 {
		return
	}
	s.deq8.Invoke(addr(src), addr(dst), len(dst)/quant.QK)
	runtime.KeepAlive(src)
	runtime.KeepAlive(dst)
}

// checkDequantize compares DequantizeQ8_0 with core/quant's reference on blocks whose
// scales are every kind of half: zeros, subnormals, normals, infinities.
func (s *Impl) checkDequantize() error {
	scales := []uint16{0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x3c00, 0xbc00, 0x2e66, 0x7bff, 0x7c00, 0xfc00}
	src := make([]byte, len(scales)*quant.BlockSizeQ8_0)
	for i, h := range scales {
		b := src[i*quant.BlockSizeQ8_0:]
		b[0], b[1] = byte(h), byte(h>>8)
		for j := range quant.QK {
			b[2+j] = byte(int8(j*9 - 128 + i))
		}
	}
	got, want := make([]float32, len(scales)*quant.QK), make([]float32, len(scales)*quant.QK)
	s.DequantizeQ8_0(got, src)
	quant.DequantizeQ8_0(want, src)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			return fmt.Errorf("simd: self-check: dequantised Q8_0 value %d is %g, core/quant says %g", i, got[i], want[i])
		}
	}
	return nil
}
