package nn

import "math"

// SwiGLU computes out = silu(gate) * up, all (n).
func SwiGLU(out, gate, up []float32) {
	n := len(out)
	if len(gate) < n || len(up) < n {
		panic("nn: SwiGLU size mismatch")
	}
	defer Track(Elementwise)()
	For(n, 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate[i]
			out[i] = g * sigmoid(g) * up[i]
		}
	})
}

// SwiGLUBackward adds dgate and dup given dout, for out = silu(gate)*up.
func SwiGLUBackward(dgate, dup, dout, gate, up []float32) {
	n := len(dout)
	if len(dgate) < n || len(dup) < n || len(gate) < n || len(up) < n {
		panic("nn: SwiGLUBackward size mismatch")
	}
	defer Track(Elementwise)()
	For(n, 10, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			g := gate[i]
			sg := sigmoid(g)
			silu := g * sg
			dup[i] += dout[i] * silu
			dgate[i] += dout[i] * up[i] * sg * (1 + g*(1-sg))
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
