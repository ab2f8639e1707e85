package nn

import "github.com/austen-diffusion/textdiffusion/core/blas"

// Linear computes out = in W^T. in is (M,K), w is (N,K), out is (M,N).
func Linear(out, in, w []float32, M, K, N int) {
	if len(out) < M*N || len(in) < M*K || len(w) < N*K {
		panic("nn: Linear size mismatch")
	}
	defer Track(GEMM)()
	blas.Sgemm(false, true, M, N, K, 1, in, K, w, K, 0, out, N)
}

// LinearBackward adds din += dout W and dw += dout^T in. din may be nil (input needs no
// gradient). Sizes as in Linear; dout is (M,N).
func LinearBackward(din, dw, dout, in, w []float32, M, K, N int) {
	if len(dout) < M*N || len(in) < M*K || len(w) < N*K || len(dw) < N*K {
		panic("nn: LinearBackward size mismatch")
	}
	defer Track(GEMM)()
	if din != nil {
		if len(din) < M*K {
			panic("nn: LinearBackward din size mismatch")
		}
		blas.Sgemm(false, false, M, K, N, 1, dout, N, w, K, 1, din, K)
	}
	blas.Sgemm(true, false, N, K, M, 1, dout, N, in, K, 1, dw, K)
}
