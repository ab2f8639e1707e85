package nn

import "math"

// RopeTable holds cos and sin of the rotary angles, each (L, hd/2): angle(p, i) =
// p * theta^(-2i/hd). The pairing is HF's rotate_half: element i rotates with i+hd/2,
// so LLaMA-style checkpoints load without permuting q and k.
type RopeTable struct {
	L, HD    int
	Cos, Sin []float32
}

// NewRopeTable computes the table for positions 0..L-1 and head size hd (even).
func NewRopeTable(L, hd int, theta float64) *RopeTable {
	if hd%2 != 0 {
		panic("nn: RoPE head size must be even")
	}
	half := hd / 2
	t := &RopeTable{L: L, HD: hd, Cos: make([]float32, L*half), Sin: make([]float32, L*half)}
	for p := 0; p < L; p++ {
		for i := 0; i < half; i++ {
			freq := math.Pow(theta, -2*float64(i)/float64(hd))
			a := float64(p) * freq
			t.Cos[p*half+i] = float32(math.Cos(a))
			t.Sin[p*half+i] = float32(math.Sin(a))
		}
	}
	return t
}

// RoPE rotates the H heads at the start of each row of x in place. x is (B*L, ld) with
// ld >= H*hd (so q and k, side by side in one projection's rows, rotate in one call as
// 2H heads); row n is at position n % L.
func RoPE(x []float32, ld int, t *RopeTable, B, L, H int) {
	rope(x, ld, t, B, L, H, 1)
}

// RoPEBackward applies the inverse (transposed) rotation to the gradient dx in place.
func RoPEBackward(dx []float32, ld int, t *RopeTable, B, L, H int) {
	rope(dx, ld, t, B, L, H, -1)
}

func rope(x []float32, ld int, t *RopeTable, B, L, H int, sign float32) {
	hd, half := t.HD, t.HD/2
	D := H * hd
	if L > t.L || ld < D || len(x) < (B*L-1)*ld+D {
		panic("nn: RoPE size mismatch")
	}
	defer Track(Elementwise)()
	if fast.Rope != nil && hd%8 == 0 {
		fast.Rope(x, ld, t.Cos, t.Sin, B*L, L, H, hd, sign)
		return
	}
	For(B*L, 2*D, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			p := n % L
			cs, sn := t.Cos[p*half:p*half+half], t.Sin[p*half:p*half+half]
			for h := 0; h < H; h++ {
				v := x[n*ld+h*hd : n*ld+h*hd+hd]
				for i := 0; i < half; i++ {
					c, s := cs[i], sign*sn[i]
					a, b := v[i], v[i+half]
					v[i] = a*c - b*s
					v[i+half] = b*c + a*s
				}
			}
		}
	})
}
