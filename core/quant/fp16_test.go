package quant

import (
	"math"
	"testing"
)

// f16Value is an independent float64 reading of a half: (-1)^s * 2^(e-15) * 1.m,
// or m * 2^-24 for subnormals.
func f16Value(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * math.Ldexp(m, -24)
	case 0x1f:
		if m == 0 {
			return math.Inf(int(s))
		}
		return math.NaN()
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

func TestF16ToF32AllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := F16ToF32(h)
		want := f16Value(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Float32bits(got)>>31 != uint32(h>>15) {
				t.Fatalf("F16ToF32(%#04x) = %v, want NaN with the same sign", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestF16RoundTripAllHalves(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := F32ToF16(F16ToF32(h))
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 { // NaN: comes back quiet
			if got != h|0x200 {
				t.Fatalf("NaN %#04x came back as %#04x, want %#04x", h, got, h|0x200)
			}
			continue
		}
		if got != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, got)
		}
	}
}

// TestF32ToF16Rounding checks, for every pair of adjacent finite halves, that
// their exact midpoint rounds to the even one and the float32 neighbours of
// the midpoint round to the nearer half.
func TestF32ToF16Rounding(t *testing.T) {
	for _, sign := range []uint16{0, 0x8000} {
		for m := uint16(0); m < 0x7c00; m++ {
			lo, hi := sign|m, sign|(m+1) // hi may be Inf: 65520 and up overflow
			a, b := f16Value(lo), f16Value(hi)
			if m+1 == 0x7c00 {
				b = math.Copysign(65536, a) // the first "half" past the largest
			}
			mid := float32((a + b) / 2) // exact: 12 significant bits
			if float64(mid) != (a+b)/2 {
				t.Fatalf("midpoint of %#04x not exact in float32", lo)
			}
			even := lo
			if lo&1 == 1 {
				even = hi
			}
			if got := F32ToF16(mid); got != even {
				t.Fatalf("F32ToF16(%v) (midpoint of %#04x,%#04x) = %#04x, want %#04x", mid, lo, hi, got, even)
			}
			toward0 := math.Nextafter32(mid, 0)
			away := math.Nextafter32(mid, float32(math.Copysign(math.Inf(1), a)))
			if got := F32ToF16(toward0); got != lo {
				t.Fatalf("F32ToF16(%v) = %#04x, want %#04x", toward0, got, lo)
			}
			if got := F32ToF16(away); got != hi {
				t.Fatalf("F32ToF16(%v) = %#04x, want %#04x", away, got, hi)
			}
		}
	}
}

func TestF32ToF16Special(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{65504, 0x7bff},
		{65519.996, 0x7bff},
		{65520, 0x7c00},
		{1e10, 0x7c00},
		{-1e10, 0xfc00},
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{math.Float32frombits(1), 0}, // float32 subnormal
		{math.Float32frombits(0x80000001), 0x8000},
		{float32(math.Ldexp(1, -24)), 0x0001}, // smallest half subnormal
		{float32(math.Ldexp(1, -25)), 0x0000}, // tie to even (zero)
		{float32(math.Ldexp(1.5, -25)), 0x0001},
		{float32(math.Ldexp(1, -14)), 0x0400}, // smallest normal
		{0.1, 0x2e66},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if h := F32ToF16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("F32ToF16(NaN) = %#04x, not a NaN", h)
	}
}

func TestEncodeDecodeF16(t *testing.T) {
	src := []float32{0, 1, -1.5, 3.140625, 65504, 6e-8}
	buf := make([]byte, 2*len(src))
	EncodeF16(buf, src)
	if buf[2] != 0x00 || buf[3] != 0x3c { // 1.0 = 0x3c00, little-endian
		t.Fatalf("1.0 encoded as % x, want 00 3c", buf[2:4])
	}
	got := make([]float32, len(src))
	DecodeF16(got, buf)
	for i := range src {
		if got[i] != F16ToF32(F32ToF16(src[i])) {
			t.Errorf("element %d: got %v", i, got[i])
		}
	}
}
