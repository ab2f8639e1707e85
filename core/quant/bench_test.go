package quant

import "testing"

// Benchmarks report GB/s of float32 output (4 bytes per weight produced), on
// a 256x256 matrix: the size of one attention projection in the demo model.
const benchN = 256 * 256

var sink float32

func benchDequant(b *testing.B, size int, quantize func([]byte, []float32), deq func([]float32, []byte)) {
	x := normal(benchN, 0.02, 1)
	q := make([]byte, benchN/QK*size)
	quantize(q, x)
	y := make([]float32, benchN)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		deq(y, q)
	}
	sink = y[0]
}

func BenchmarkDequantizeQ8_0Ref(b *testing.B) {
	benchDequant(b, BlockSizeQ8_0, QuantizeQ8_0, DequantizeQ8_0)
}
func BenchmarkDequantizeQ8_0Fast(b *testing.B) {
	benchDequant(b, BlockSizeQ8_0, QuantizeQ8_0, DequantizeQ8_0Fast)
}
func BenchmarkDequantizeQ4_0Ref(b *testing.B) {
	benchDequant(b, BlockSizeQ4_0, QuantizeQ4_0, DequantizeQ4_0)
}
func BenchmarkDequantizeQ4_0Fast(b *testing.B) {
	benchDequant(b, BlockSizeQ4_0, QuantizeQ4_0, DequantizeQ4_0Fast)
}

// The dot benchmarks count the same 4 bytes per weight, so their GB/s compare
// directly with dequantizing (a matrix-vector product is one dot per row).
func benchDot(b *testing.B, size int, quantize func([]byte, []float32), dot func([]byte, []float32) float32) {
	const rows, cols = 256, benchN / 256
	w := normal(benchN, 0.02, 1)
	q := make([]byte, benchN/QK*size)
	quantize(q, w)
	x := normal(cols, 1, 2)
	rb := cols / QK * size
	b.SetBytes(4 * benchN)
	for b.Loop() {
		for r := 0; r < rows; r++ {
			sink += dot(q[r*rb:(r+1)*rb], x)
		}
	}
}

func BenchmarkDotQ8_0(b *testing.B) { benchDot(b, BlockSizeQ8_0, QuantizeQ8_0, DotQ8_0) }
func BenchmarkDotQ4_0(b *testing.B) { benchDot(b, BlockSizeQ4_0, QuantizeQ4_0, DotQ4_0) }

// BenchmarkDotF32 is the baseline: the same product with float32 weights.
func BenchmarkDotF32(b *testing.B) {
	const rows, cols = 256, benchN / 256
	w := normal(benchN, 0.02, 1)
	x := normal(cols, 1, 2)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		for r := 0; r < rows; r++ {
			sink += Dot(w[r*cols:(r+1)*cols], x)
		}
	}
}

func BenchmarkQuantizeQ8_0(b *testing.B) {
	x := normal(benchN, 0.02, 1)
	q := make([]byte, benchN/QK*BlockSizeQ8_0)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		QuantizeQ8_0(q, x)
	}
}

func BenchmarkQuantizeQ4_0(b *testing.B) {
	x := normal(benchN, 0.02, 1)
	q := make([]byte, benchN/QK*BlockSizeQ4_0)
	b.SetBytes(4 * benchN)
	for b.Loop() {
		QuantizeQ4_0(q, x)
	}
}
