//go:build js && wasm

package simd

import (
	"runtime"

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
	if tA != gblas.NoTrans || tB != gblas.Trans && tB != gblas.NoTrans || m <= 0 || n < s.cols || k <= 0 ||
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
	kernel.Invoke(m, n, k, addr(s.packed), addr(b), ldb, addr(c), ldc, alpha, beta)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
}
