package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// ggml's structs, sized by the Go compiler as a cross-check of the constants.
type blockQ8_0 struct {
	d  uint16
	qs [QK]int8
}

type blockQ4_0 struct {
	d  uint16
	qs [QK / 2]uint8
}

func TestBlockSizes(t *testing.T) {
	if BlockSizeQ8_0 != 34 || unsafe.Sizeof(blockQ8_0{}) != BlockSizeQ8_0 {
		t.Errorf("Q8_0 block is %d bytes (struct %d), want 34", BlockSizeQ8_0, unsafe.Sizeof(blockQ8_0{}))
	}
	if BlockSizeQ4_0 != 18 || unsafe.Sizeof(blockQ4_0{}) != BlockSizeQ4_0 {
		t.Errorf("Q4_0 block is %d bytes (struct %d), want 18", BlockSizeQ4_0, unsafe.Sizeof(blockQ4_0{}))
	}
}

func normal(n int, std float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64() * std)
	}
	return x
}

func relRMS(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		e := float64(x[i]) - float64(y[i])
		num += e * e
		den += float64(x[i]) * float64(x[i])
	}
	return math.Sqrt(num / den)
}

func TestErrorOnGaussianWeights(t *testing.T) {
	x := normal(1<<16, 0.02, 7)
	y := make([]float32, len(x))

	q8 := make([]byte, len(x)/QK*BlockSizeQ8_0)
	QuantizeQ8_0(q8, x)
	DequantizeQ8_0(y, q8)
	if e := relRMS(x, y); e > 0.01 {
		t.Errorf("Q8_0 relative RMS error %.4f > 1%%", e)
	} else {
		t.Logf("Q8_0 relative RMS error %.4f", e)
	}

	q4 := make([]byte, len(x)/QK*BlockSizeQ4_0)
	QuantizeQ4_0(q4, x)
	DequantizeQ4_0(y, q4)
	if e := relRMS(x, y); e > 0.10 {
		t.Errorf("Q4_0 relative RMS error %.4f > 10%%", e)
	} else {
		t.Logf("Q4_0 relative RMS error %.4f", e)
	}
}

// TestQ8_0KnownBlock checks the layout and rounding on hand-computed values.
func TestQ8_0KnownBlock(t *testing.T) {
	x := make([]float32, QK)
	x[0] = 127 // amax: d = 1, exactly representable in fp16
	x[1] = -127
	x[2] = 2.5 // ties round away from zero
	x[3] = -2.5
	x[4] = 0.49
	x[31] = 100.5
	b := make([]byte, BlockSizeQ8_0)
	QuantizeQ8_0(b, x)
	if d := binary.LittleEndian.Uint16(b); d != 0x3c00 {
		t.Fatalf("d = %#04x, want 0x3c00 (1.0)", d)
	}
	want := map[int]int8{0: 127, 1: -127, 2: 3, 3: -3, 4: 0, 5: 0, 31: 101}
	for j, w := range want {
		if got := int8(b[2+j]); got != w {
			t.Errorf("q[%d] = %d, want %d", j, got, w)
		}
	}
}

// TestQ4_0KnownBlock checks the nibble order, the sign of d and truncation.
func TestQ4_0KnownBlock(t *testing.T) {
	x := make([]float32, QK)
	x[0] = -8    // max |x| is negative: d = -8/-8 = 1, code = -8/1+8.5 -> 0
	x[1] = 7     // 7+8.5 = 15.5 -> 15
	x[2] = 7.9   // 16.4 -> 16 -> clamped to 15
	x[3] = -0.4  // 8.1 -> 8
	x[16] = 1.5  // 10 -> high nibble of byte 0
	x[17] = -1.6 // 6.9 -> 6, high nibble of byte 1
	b := make([]byte, BlockSizeQ4_0)
	QuantizeQ4_0(b, x)
	if d := binary.LittleEndian.Uint16(b); d != 0x3c00 {
		t.Fatalf("d = %#04x, want 0x3c00 (1.0)", d)
	}
	codes := func(j int) (lo, hi byte) { return b[2+j] & 15, b[2+j] >> 4 }
	for _, c := range []struct {
		j      int
		lo, hi byte
	}{{0, 0, 10}, {1, 15, 6}, {2, 15, 8}, {3, 8, 8}, {15, 8, 8}} {
		lo, hi := codes(c.j)
		if lo != c.lo || hi != c.hi {
			t.Errorf("byte %d = (lo %d, hi %d), want (%d, %d)", c.j, lo, hi, c.lo, c.hi)
		}
	}
	// A positive extreme flips the sign of d: code 0 then means +max.
	x = make([]float32, QK)
	x[5] = 4
	QuantizeQ4_0(b, x)
	if d := F16ToF32(binary.LittleEndian.Uint16(b)); d != -0.5 {
		t.Errorf("d = %v, want -0.5", d)
	}
	if lo := b[2+5] & 15; lo != 0 {
		t.Errorf("code of the max = %d, want 0", lo)
	}
	y := make([]float32, QK)
	DequantizeQ4_0(y, b)
	if y[5] != 4 || y[0] != 0 {
		t.Errorf("dequantized y[5]=%v y[0]=%v, want 4 and 0", y[5], y[0])
	}
}

func TestZeroBlock(t *testing.T) {
	x := make([]float32, 2*QK)
	y := make([]float32, len(x))
	for i := range y {
		y[i] = 1
	}
	q8 := make([]byte, 2*BlockSizeQ8_0)
	QuantizeQ8_0(q8, x)
	DequantizeQ8_0(y, q8)
	q4 := make([]byte, 2*BlockSizeQ4_0)
	QuantizeQ4_0(q4, x)
	z := make([]float32, len(x))
	DequantizeQ4_0(z, q4)
	for i := range x {
		if y[i] != 0 || z[i] != 0 {
			t.Fatalf("zero block dequantized to %v / %v at %d", y[i], z[i], i)
		}
	}
}

// testRows gives inputs of several scales, with exact ties, zeros and
// extreme blocks, so the fast paths are compared on more than Gaussian data.
func testRows() [][]float32 {
	rows := [][]float32{normal(4096, 0.02, 1), normal(1024, 3, 2), normal(32, 1e-6, 3)}
	special := make([]float32, 6*QK)
	for i := range special {
		special[i] = float32(i%17-8) * 0.25
	}
	special[40] = 65504
	special[100] = -1e-8
	rows = append(rows, special)
	return rows
}

// randomBlocks gives random bytes as blocks: every code and many scales,
// including fp16 subnormals, Inf and NaN scales.
func randomBlocks(n, size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n*size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v (%#08x), reference %v (%#08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func TestFastMatchesReference(t *testing.T) {
	check := func(name string, n int, q8, q4 []byte) {
		want := make([]float32, n)
		got := make([]float32, n)
		DequantizeQ8_0(want, q8)
		DequantizeQ8_0Fast(got, q8)
		sameBits(t, name+" Q8_0", got, want)
		DequantizeQ4_0(want, q4)
		DequantizeQ4_0Fast(got, q4)
		sameBits(t, name+" Q4_0", got, want)
	}
	for k, x := range testRows() {
		q8 := make([]byte, len(x)/QK*BlockSizeQ8_0)
		q4 := make([]byte, len(x)/QK*BlockSizeQ4_0)
		QuantizeQ8_0(q8, x)
		QuantizeQ4_0(q4, x)
		check("row "+string(rune('0'+k)), len(x), q8, q4)
	}
	const nb = 4096
	check("random bytes", nb*QK, randomBlocks(nb, BlockSizeQ8_0, 1), randomBlocks(nb, BlockSizeQ4_0, 2))
}

func TestDotMatchesReference(t *testing.T) {
	for k, w := range testRows() {
		x := normal(len(w), 1, uint64(10+k))
		q8 := make([]byte, len(w)/QK*BlockSizeQ8_0)
		q4 := make([]byte, len(w)/QK*BlockSizeQ4_0)
		QuantizeQ8_0(q8, w)
		QuantizeQ4_0(q4, w)
		y := make([]float32, len(w))
		DequantizeQ8_0(y, q8)
		if got, want := DotQ8_0(q8, x), Dot(y, x); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("row %d: DotQ8_0 = %v, reference %v", k, got, want)
		}
		DequantizeQ4_0(y, q4)
		if got, want := DotQ4_0(q4, x), Dot(y, x); math.Float32bits(got) != math.Float32bits(want) {
			t.Errorf("row %d: DotQ4_0 = %v, reference %v", k, got, want)
		}
	}
	// Random blocks with finite scales (NaN scales make NaN == NaN fail).
	const nb = 512
	x := normal(nb*QK, 1, 99)
	for _, c := range []struct {
		size  int
		deq   func([]float32, []byte)
		dot   func([]byte, []float32) float32
		label string
	}{{BlockSizeQ8_0, DequantizeQ8_0, DotQ8_0, "Q8_0"}, {BlockSizeQ4_0, DequantizeQ4_0, DotQ4_0, "Q4_0"}} {
		b := randomBlocks(nb, c.size, 5)
		for i := 0; i < nb; i++ {
			b[i*c.size+1] &= 0x3b // exponent well below Inf, so sums stay finite
		}
		y := make([]float32, nb*QK)
		c.deq(y, b)
		for n := QK; n <= nb*QK; n *= 2 {
			got, want := c.dot(b[:n/QK*c.size], x[:n]), Dot(y[:n], x[:n])
			if math.Float32bits(got) != math.Float32bits(want) {
				t.Errorf("%s random blocks, n=%d: dot = %v, reference %v", c.label, n, got, want)
			}
		}
	}
}

// TestQ8_0Requantize: quantizing an already dequantized row barely moves it,
// so converting a q8_0 file to q8_0 again does not compound the error.
func TestQ8_0Requantize(t *testing.T) {
	x := normal(2048, 0.02, 3)
	q := make([]byte, len(x)/QK*BlockSizeQ8_0)
	QuantizeQ8_0(q, x)
	y := make([]float32, len(x))
	DequantizeQ8_0(y, q)
	q2 := make([]byte, len(q))
	QuantizeQ8_0(q2, y)
	y2 := make([]float32, len(x))
	DequantizeQ8_0(y2, q2)
	if e := relRMS(y, y2); e > 0.002 {
		t.Errorf("re-quantizing drifted by %.4f", e)
	}
}

func TestPanicsOnBadLengths(t *testing.T) {
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("QuantizeQ8_0 len%32", func() { QuantizeQ8_0(make([]byte, 34), make([]float32, 31)) })
	mustPanic("QuantizeQ8_0 dst", func() { QuantizeQ8_0(make([]byte, 33), make([]float32, 32)) })
	mustPanic("QuantizeQ4_0 dst", func() { QuantizeQ4_0(make([]byte, 34), make([]float32, 32)) })
	mustPanic("DequantizeQ8_0", func() { DequantizeQ8_0(make([]float32, 32), make([]byte, 18)) })
	mustPanic("DequantizeQ4_0Fast", func() { DequantizeQ4_0Fast(make([]float32, 32), make([]byte, 34)) })
	mustPanic("DotQ8_0", func() { DotQ8_0(make([]byte, 34), make([]float32, 64)) })
	mustPanic("Dot", func() { Dot(make([]float32, 2), make([]float32, 3)) })
}
