//go:build !amd64

package nn

const haveAVX2 = false

// swigluVec has no vector kernel on this platform: the caller's Go loop does it all.
func swigluVec(out, g, u []float32) int { return 0 }

// swigluBackwardVec likewise.
func swigluBackwardVec(dg, du, d, g, u []float32) int { return 0 }
