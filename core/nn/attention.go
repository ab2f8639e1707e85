package nn

import (
	"math"

	"github.com/austen-diffusion/textdiffusion/core/blas"
)

// Attention computes multi-head scaled dot-product attention with no mask (or a causal
// one) and keeps the probabilities for the backward pass.
// q, k, v, out are (B*L, H*hd), heads side by side in each row; probs is (B, H, L, L).
// The score and value products run through BLAS per (sequence, head) with strided
// leading dimensions, so no transposed copies are made.
func Attention(out, probs, q, k, v []float32, B, L, H, hd int, causal bool) {
	D := H * hd
	if len(out) < B*L*D || len(q) < B*L*D || len(k) < B*L*D || len(v) < B*L*D || len(probs) < B*H*L*L {
		panic("nn: Attention size mismatch")
	}
	defer Track(AttnFamily)()
	scale := float32(1 / math.Sqrt(float64(hd)))
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			off := b*L*D + h*hd
			P := probs[(b*H+h)*L*L : (b*H+h+1)*L*L]
			blas.Sgemm(false, true, L, L, hd, scale, q[off:], D, k[off:], D, 0, P, L)
		}
	}
	softmaxRows(probs, B*H*L, L, causal)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			off := b*L*D + h*hd
			P := probs[(b*H+h)*L*L : (b*H+h+1)*L*L]
			blas.Sgemm(false, false, L, hd, L, 1, P, L, v[off:], D, 0, out[off:], D)
		}
	}
}

// softmaxRows replaces each row of s (rows, L) by its softmax; with causal, row r (query
// position r % L) sees only columns <= r % L and the rest become 0.
func softmaxRows(s []float32, rows, L int, causal bool) {
	For(rows, 3*L, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := s[r*L : r*L+L]
			n := L
			if causal {
				n = r%L + 1
			}
			mx := row[0]
			for _, x := range row[1:n] {
				mx = max(mx, x)
			}
			inv := float32(1 / ExpStore(row[:n], row[:n], mx))
			for j := 0; j < n; j++ {
				row[j] *= inv
			}
			for j := n; j < L; j++ {
				row[j] = 0
			}
		}
	})
}

// AttentionBackward adds the gradients of q, k and v given dout. scratch is (B, H, L, L)
// and is overwritten. Shapes as in Attention.
func AttentionBackward(dq, dk, dv, scratch, dout, probs, q, k, v []float32, B, L, H, hd int) {
	D := H * hd
	if len(dq) < B*L*D || len(dk) < B*L*D || len(dv) < B*L*D || len(dout) < B*L*D || len(scratch) < B*H*L*L {
		panic("nn: AttentionBackward size mismatch")
	}
	defer Track(AttnFamily)()
	scale := float32(1 / math.Sqrt(float64(hd)))
	// dP = dO V^T and dV += P^T dO.
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			off := b*L*D + h*hd
			P := probs[(b*H+h)*L*L : (b*H+h+1)*L*L]
			dP := scratch[(b*H+h)*L*L : (b*H+h+1)*L*L]
			blas.Sgemm(false, true, L, L, hd, 1, dout[off:], D, v[off:], D, 0, dP, L)
			blas.Sgemm(true, false, L, hd, L, 1, P, L, dout[off:], D, 1, dv[off:], D)
		}
	}
	// dS = P * (dP - sum_j dP_j P_j), the softmax Jacobian applied row by row; masked
	// (causal) entries have P = 0 and so get no gradient.
	For(B*H*L, 3*L, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p, d := probs[r*L:r*L+L], scratch[r*L:r*L+L]
			var dot float32
			for j := range p {
				dot += p[j] * d[j]
			}
			for j := range p {
				d[j] = p[j] * (d[j] - dot)
			}
		}
	})
	// S = scale Q K^T, so dQ += scale dS K and dK += scale dS^T Q.
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			off := b*L*D + h*hd
			dS := scratch[(b*H+h)*L*L : (b*H+h+1)*L*L]
			blas.Sgemm(false, false, L, hd, L, scale, dS, L, k[off:], D, 1, dq[off:], D)
			blas.Sgemm(true, false, L, hd, L, scale, dS, L, q[off:], D, 1, dk[off:], D)
		}
	}
}
