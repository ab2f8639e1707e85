//go:build amd64

package nn

import "golang.org/x/sys/cpu"

// haveAVX2 says whether the vector SwiGLU kernels can run here.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// swigluAVX2 is, for n a multiple of 8 (8 lanes at a time, sigmoid as in expNeg32):
//
//	for i := 0; i < n; i++ { out[i] = g[i] * sigmoid(g[i]) * u[i] }
//
//go:noescape
func swigluAVX2(out, gate, u *float32, n int)

// swigluBackwardAVX2 is, for n a multiple of 8:
//
//	for i := 0; i < n; i++ {
//		s := sigmoid(g[i])
//		du[i] += d[i] * g[i] * s
//		dg[i] += d[i] * u[i] * s * (1 + g[i]*(1-s))
//	}
//
//go:noescape
func swigluBackwardAVX2(dg, du, d, gate, u *float32, n int)

// swigluVec runs the vector forward kernel on the longest multiple-of-8 prefix of g (all
// of the same length) and returns its length; the caller does the rest.
func swigluVec(out, g, u []float32) int {
	n := len(g) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	swigluAVX2(&out[0], &g[0], &u[0], n)
	return n
}

// swigluBackwardVec is swigluVec for the backward kernel.
func swigluBackwardVec(dg, du, d, g, u []float32) int {
	n := len(g) &^ 7
	if !haveAVX2 || n == 0 {
		return 0
	}
	swigluBackwardAVX2(&dg[0], &du[0], &d[0], &g[0], &u[0], n)
	return n
}

// expShiftAVX2 is, for n a multiple of 8 and x[i] <= m:
//
//	for i := 0; i < n; i++ { x[i] = expNeg32(x[i] - m); s += x[i] }
//	return s
//
// (the sum in 8 lanes, then across them).
//
//go:noescape
func expShiftAVX2(x *float32, m float32, n int) float32

// expShiftVec runs expShiftAVX2 on the longest multiple-of-8 prefix of x and returns its
// length and sum.
func expShiftVec(x []float32, m float32) (int, float32) {
	n := len(x) &^ 7
	if !haveAVX2 || n == 0 {
		return 0, 0
	}
	return n, expShiftAVX2(&x[0], m, n)
}
