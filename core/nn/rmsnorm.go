package nn

import (
	"math"
	"sort"
	"sync"
)

// RMSNorm computes out = in / sqrt(mean(in^2) + eps) * w per row and stores the
// reciprocal root in rstd for the backward pass (rstd may be nil at inference).
// in, out are (M,D), w is (D), rstd is (M).
func RMSNorm(out, rstd, in, w []float32, M, D int, eps float32) {
	if len(out) < M*D || len(in) < M*D || len(w) < D || (rstd != nil && len(rstd) < M) {
		panic("nn: RMSNorm size mismatch")
	}
	defer Track(Elementwise)()
	if fast.RMSNorm != nil && rstd != nil {
		fast.RMSNorm(out, rstd, in, w, M, D, eps)
		return
	}
	For(M, 3*D, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			x := in[r*D : r*D+D]
			var ss float64
			for _, v := range x {
				ss += float64(v) * float64(v)
			}
			rs := float32(1 / math.Sqrt(ss/float64(D)+float64(eps)))
			if rstd != nil {
				rstd[r] = rs
			}
			y := out[r*D : r*D+D]
			for i, v := range x {
				y[i] = v * rs * w[i]
			}
		}
	})
}

// RMSNormBackward adds din += d(out)/d(in)^T dout and dw += sum over rows of dout*xhat,
// with xhat = in*rstd. Shapes as in RMSNorm. dw is accumulated per worker then summed,
// so rows can run in parallel.
func RMSNormBackward(din, dw, dout, in, w, rstd []float32, M, D int) {
	if len(din) < M*D || len(dout) < M*D || len(in) < M*D || len(w) < D || len(dw) < D || len(rstd) < M {
		panic("nn: RMSNormBackward size mismatch")
	}
	defer Track(Elementwise)()
	// Each worker sums its rows' dw into its own buffer; the buffers are added in row
	// order afterwards so the result does not depend on goroutine scheduling.
	type part struct {
		lo int
		dw []float32
	}
	var parts []part
	var mu sync.Mutex
	For(M, 6*D, func(lo, hi int) {
		local := make([]float32, D)
		for r := lo; r < hi; r++ {
			x, dy, dx := in[r*D:r*D+D], dout[r*D:r*D+D], din[r*D:r*D+D]
			rs := rstd[r]
			// dot = mean(dxhat * xhat), dxhat = dy*w
			var dot float64
			for i := range x {
				xh := x[i] * rs
				local[i] += dy[i] * xh
				dot += float64(dy[i] * w[i] * xh)
			}
			m := float32(dot / float64(D))
			for i := range x {
				xh := x[i] * rs
				dx[i] += rs * (dy[i]*w[i] - xh*m)
			}
		}
		mu.Lock()
		parts = append(parts, part{lo, local})
		mu.Unlock()
	})
	sort.Slice(parts, func(i, j int) bool { return parts[i].lo < parts[j].lo })
	for _, p := range parts {
		for i, v := range p.dw {
			dw[i] += v
		}
	}
}
