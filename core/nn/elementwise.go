package nn

import "math"

// SwiGLU computes out = silu(gate) * up. gu is (N, 2F), each row the gate's F values
// then the up projection's (one product makes both), out is (N, F).
func SwiGLU(out, gu []float32, N, F int) {
	if len(out) < N*F || len(gu) < 2*N*F {
		panic("nn: SwiGLU size mismatch")
	}
	defer Track(Elementwise)()
	For(N, 8*F, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g, u, o := gu[2*r*F:(2*r+1)*F], gu[(2*r+1)*F:(2*r+2)*F], out[r*F:(r+1)*F]
			if fast.SwiGLU != nil {
				fast.SwiGLU(o, g, u)
				continue
			}
			for i := swigluVec(o, g, u); i < F; i++ {
				x := g[i]
				o[i] = x * sigmoid(x) * u[i]
			}
		}
	})
}

// SwiGLUBackward adds to dgu (N, 2F), laid out like gu, the gradients of gate and up
// given dout (N, F), for out = silu(gate)*up.
func SwiGLUBackward(dgu, dout, gu []float32, N, F int) {
	if len(dgu) < 2*N*F || len(dout) < N*F || len(gu) < 2*N*F {
		panic("nn: SwiGLUBackward size mismatch")
	}
	defer Track(Elementwise)()
	For(N, 10*F, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			g, u, d := gu[2*r*F:(2*r+1)*F], gu[(2*r+1)*F:(2*r+2)*F], dout[r*F:(r+1)*F]
			dg, du := dgu[2*r*F:(2*r+1)*F], dgu[(2*r+1)*F:(2*r+2)*F]
			for i := swigluBackwardVec(dg, du, d, g, u); i < F; i++ {
				x := g[i]
				sg := sigmoid(x)
				du[i] += d[i] * x * sg
				dg[i] += d[i] * u[i] * sg * (1 + x*(1-sg))
			}
		}
	})
}

// Add computes out = a + b elementwise (out may alias a).
func Add(out, a, b []float32) {
	n := len(out)
	if len(a) < n || len(b) < n {
		panic("nn: Add size mismatch")
	}
	defer Track(Elementwise)()
	if fast.Add != nil {
		fast.Add(out, a, b)
		return
	}
	For(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] + b[i]
		}
	})
}

// Mul computes out = a * b elementwise (out may alias a).
func Mul(out, a, b []float32) {
	n := len(out)
	if len(a) < n || len(b) < n {
		panic("nn: Mul size mismatch")
	}
	defer Track(Elementwise)()
	For(n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = a[i] * b[i]
		}
	})
}

// Embed gathers rows: out[n] = table[ids[n]]. table is (V,D), out is (len(ids), D).
func Embed(out, table []float32, ids []int32, V, D int) {
	if len(out) < len(ids)*D || len(table) < V*D {
		panic("nn: Embed size mismatch")
	}
	defer Track(Elementwise)()
	for n, id := range ids {
		if id < 0 || int(id) >= V {
			panic("nn: Embed token id out of range")
		}
		copy(out[n*D:n*D+D], table[int(id)*D:int(id)*D+D])
	}
}

// EmbedBackward scatters dout rows into dtable: dtable[ids[n]] += dout[n]. It runs
// serially because ids repeat.
func EmbedBackward(dtable, dout []float32, ids []int32, D int) {
	defer Track(Elementwise)()
	for n, id := range ids {
		row := dtable[int(id)*D : int(id)*D+D]
		for i, g := range dout[n*D : n*D+D] {
			row[i] += g
		}
	}
}

// sigmoid is 1/(1+e^-x), computed with expNeg32 on -|x| so the exponent never overflows.
func sigmoid(x float32) float32 {
	e := expNeg32(-abs32(x))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
