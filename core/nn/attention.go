package nn

import (
	"math"

	"github.com/austen-diffusion/textdiffusion/core/blas"
)

// Attention computes multi-head scaled dot-product attention with no mask (or a causal
// one) and keeps the probabilities for the backward pass.
// q, k, v are (B*L, H*hd) with rows ld apart (ld >= H*hd, so that they may be column
// blocks of one (B*L, 3*H*hd) projection), out is (B*L, H*hd); heads sit side by side in
// each row; probs is (B, H, L, L).
// Each (sequence, head) pair runs its score product, softmax and value product back to
// back while its (L, L) tile is in cache; the products use BLAS with strided leading
// dimensions, so no transposed copies are made. The pairs are independent, so they are
// shared out between goroutines, each running its products on one BLAS thread.
func Attention(out, probs, q, k, v []float32, ld, B, L, H, hd int, causal bool) {
	D := H * hd
	in := (B*L-1)*ld + D
	if ld < D || len(out) < B*L*D || len(q) < in || len(k) < in || len(v) < in || len(probs) < B*H*L*L {
		panic("nn: Attention size mismatch")
	}
	defer Track(AttnFamily)()
	scale := float32(1 / math.Sqrt(float64(hd)))
	if fast.Attention != nil && fast.Attention(out, probs, q, k, v, ld, B, L, H, hd, causal, scale) {
		return
	}
	blas.Serial(func() {
		For(B*H, 4*L*L*hd, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				off, o := (bh/H)*L*ld+(bh%H)*hd, (bh/H)*L*D+(bh%H)*hd
				P := probs[bh*L*L : (bh+1)*L*L]
				blas.Sgemm(false, true, L, L, hd, scale, q[off:], ld, k[off:], ld, 0, P, L)
				softmaxRows(P, L, causal)
				blas.Sgemm(false, false, L, hd, L, 1, P, L, v[off:], ld, 0, out[o:], D)
			}
		})
	})
}

// softmaxRows replaces each row of the (L, L) scores s by its softmax; with causal, row
// r sees only columns <= r and the rest become 0.
func softmaxRows(s []float32, L int, causal bool) {
	if fast.Softmax != nil {
		fast.Softmax(s[:L*L], L, L, causal)
		return
	}
	for r := 0; r < L; r++ {
		row := s[r*L : r*L+L]
		n := L
		if causal {
			n = r + 1
		}
		mx := row[0]
		for _, x := range row[1:n] {
			mx = max(mx, x)
		}
		inv := 1 / ExpShift(row[:n], mx)
		for j := range row[:n] {
			row[j] *= inv
		}
		clear(row[n:])
	}
}

// AttentionBackward adds the gradients of q, k and v given dout. scratch is (B, H, L, L)
// and is overwritten. dq, dk, dv have q's row stride ld. Shapes and the sharing of
// (sequence, head) pairs as in Attention.
func AttentionBackward(dq, dk, dv, scratch, dout, probs, q, k, v []float32, ld, B, L, H, hd int) {
	D := H * hd
	in := (B*L-1)*ld + D
	if ld < D || len(dq) < in || len(dk) < in || len(dv) < in || len(q) < in || len(k) < in || len(v) < in ||
		len(dout) < B*L*D || len(scratch) < B*H*L*L {
		panic("nn: AttentionBackward size mismatch")
	}
	defer Track(AttnFamily)()
	scale := float32(1 / math.Sqrt(float64(hd)))
	blas.Serial(func() {
		For(B*H, 8*L*L*hd, func(lo, hi int) {
			for bh := lo; bh < hi; bh++ {
				off, o := (bh/H)*L*ld+(bh%H)*hd, (bh/H)*L*D+(bh%H)*hd
				P := probs[bh*L*L : (bh+1)*L*L]
				dS := scratch[bh*L*L : (bh+1)*L*L]
				// dP = dO V^T and dV += P^T dO.
				blas.Sgemm(false, true, L, L, hd, 1, dout[o:], D, v[off:], ld, 0, dS, L)
				blas.Sgemm(true, false, L, hd, L, 1, P, L, dout[o:], D, 1, dv[off:], ld)
				softmaxBackwardRows(dS, P, L)
				// S = scale Q K^T, so dQ += scale dS K and dK += scale dS^T Q.
				blas.Sgemm(false, false, L, hd, L, scale, dS, L, k[off:], ld, 1, dq[off:], ld)
				blas.Sgemm(true, false, L, hd, L, scale, dS, L, q[off:], ld, 1, dk[off:], ld)
			}
		})
	})
}

// softmaxBackwardRows turns d = dP into dS = P * (dP - sum_j dP_j P_j) row by row, the
// softmax Jacobian applied to each row of the (L, L) tile; masked (causal) entries have
// P = 0 and so get no gradient.
func softmaxBackwardRows(d, p []float32, L int) {
	for r := 0; r < L; r++ {
		pr, dr := p[r*L:r*L+L], d[r*L:r*L+L]
		var dot float32
		for j, x := range pr {
			dot += x * dr[j]
		}
		for j, x := range pr {
			dr[j] = x * (dr[j] - dot)
		}
	}
}
