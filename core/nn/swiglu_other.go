//go:build !amd64

package nn

const haveAVX2 = false

// swigluVec has no vector kernel on this platform: the caller's Go loop does it all.
func swigluVec(out, g, u []float32) int { return 0 }

// swigluBackwardVec likewise.
func swigluBackwardVec(dg, du, d, g, u []float32) int { return 0 }

// expShiftVec likewise.
func expShiftVec(x []float32, m float32) (int, float32) { return 0, 0 }
