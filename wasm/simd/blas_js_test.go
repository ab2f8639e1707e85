//go:build js && wasm

package simd

import (
	"math"
	"math/rand/v2"
	"slices"
	"syscall/js"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/quant"
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// load returns the kernel on Go's memory, which only a runner that hands it over provides
// (testdata/node_exec.sh, as site/worker.js does); wasmbrowsertest does not.
func load(t testing.TB) *Impl {
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() {
		t.Skip("no globalThis.tdiffMemory: run with -exec wasm/simd/testdata/node_exec.sh (build/e2e.sh does)")
	}
	k, err := Load(mem)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// normals returns a function giving n standard normal values from r.
func normals(r *rand.Rand) func(n int) []float32 {
	return func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
}

// TestSgemmMatchesGonum covers the kernels' cases with every kind of edge and the cases
// they hand to gonum, with strides wider than the rows.
func TestSgemmMatchesGonum(t *testing.T) {
	k := load(t)
	fill := normals(rand.New(rand.NewPCG(1, 2)))
	for _, tc := range []struct {
		tA, tB  gblas.Transpose
		m, n, k int
	}{
		{gblas.NoTrans, gblas.Trans, 2, 4, 4},
		{gblas.NoTrans, gblas.Trans, 41, 768, 256}, // a layer: odd rows
		{gblas.NoTrans, gblas.Trans, 40, 4096, 256},
		{gblas.NoTrans, gblas.Trans, 9, 13, 64}, // edge rows and columns
		{gblas.NoTrans, gblas.Trans, 1, 8, 8},   // too few rows for a block
		{gblas.NoTrans, gblas.Trans, 6, 3, 8},   // too few columns
		{gblas.NoTrans, gblas.Trans, 6, 8, 10},  // k odd multiple of 2
		{gblas.NoTrans, gblas.NoTrans, 7, 9, 11},
		{gblas.NoTrans, gblas.NoTrans, 41, 64, 41}, // attention's P V: partial panel
		{gblas.NoTrans, gblas.Trans, 128, 128, 64}, // attention's scores
		{gblas.NoTrans, gblas.Trans, 3, 4, 1},      // k = 1
		{gblas.Trans, gblas.NoTrans, 7, 9, 12},
	} {
		for _, beta := range []float32{0, 1} {
			rowsA, colsA := tc.m, tc.k
			if tc.tA == gblas.Trans {
				rowsA, colsA = tc.k, tc.m
			}
			rowsB, colsB := tc.k, tc.n
			if tc.tB == gblas.Trans {
				rowsB, colsB = tc.n, tc.k
			}
			lda, ldb, ldc := colsA+3, colsB+1, tc.n+2
			a, b := fill(rowsA*lda), fill(rowsB*ldb)
			got := fill(tc.m * ldc)
			want := append([]float32(nil), got...)
			k.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 0.75, a, lda, b, ldb, beta, got, ldc)
			gonum.Implementation{}.Sgemm(tc.tA, tc.tB, tc.m, tc.n, tc.k, 0.75, a, lda, b, ldb, beta, want, ldc)
			for i := range got {
				tol := 1e-5 * (1 + math.Sqrt(float64(tc.k)))
				if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
					t.Fatalf("%v%v m=%d n=%d k=%d beta=%g: C[%d] = %g, gonum %g", tc.tA, tc.tB, tc.m, tc.n, tc.k, beta, i, got[i], want[i])
				}
			}
		}
	}
}

func TestLoadRefusesNonMemory(t *testing.T) {
	if _, err := Load(js.ValueOf(map[string]any{})); err == nil {
		t.Error("Load accepted a plain object as memory")
	}
}

// TestKernelsMatchGo runs attention (its softmax, causal or not), SwiGLU and RMSNorm with core/nn's
// Go loops and with the module's, on one shape with row lengths off the 4-lane grid.
func TestKernelsMatchGo(t *testing.T) {
	k := load(t)
	r := rand.New(rand.NewPCG(3, 4))
	fill := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(scale * r.NormFloat64())
		}
		return v
	}
	defer nn.UseKernels(nn.Kernels{})
	const B, L, H, hd = 2, 23, 2, 8
	q, kk, v := fill(B*L*H*hd, 3), fill(B*L*H*hd, 3), fill(B*L*H*hd, 1)
	gate, up := fill(1003, 4), fill(1003, 1)
	const rows, d = 3, 333
	for _, causal := range []bool{false, true} {
		var out, probs [2][]float32
		var act, norm, rstd [2][]float32
		for i, ks := range []nn.Kernels{{}, k.Kernels()} {
			nn.UseKernels(ks)
			out[i], probs[i], act[i] = make([]float32, len(q)), make([]float32, B*H*L*L), make([]float32, len(gate))
			nn.Attention(out[i], probs[i], q, kk, v, H*hd, B, L, H, hd, causal)
			nn.SwiGLU(act[i], append(append([]float32(nil), gate...), up...), 1, len(gate)) // one row: gate, then up
			norm[i], rstd[i] = make([]float32, rows*d), make([]float32, rows)
			nn.RMSNorm(norm[i], rstd[i], gate[:rows*d], up[:d], rows, d, 1e-5)
		}
		for _, c := range []struct {
			name      string
			got, want []float32
		}{{"probs", probs[1], probs[0]}, {"attention", out[1], out[0]}, {"swiglu", act[1], act[0]},
			{"rmsnorm", norm[1], norm[0]}, {"rstd", rstd[1], rstd[0]}} {
			for i := range c.got {
				if d := math.Abs(float64(c.got[i] - c.want[i])); !(d <= 2e-6*(1+math.Abs(float64(c.want[i])))) {
					t.Fatalf("causal=%v %s[%d] = %g, Go loops %g", causal, c.name, i, c.got[i], c.want[i])
				}
			}
		}
	}
}

// TestRopeAddMatchGo: the module's RoPE (forward and backward, q and k side by side in
// rows wider than the heads, more rows than the table's positions) and Add give Go's
// loops' bits.
func TestRopeAddMatchGo(t *testing.T) {
	k := load(t)
	r := rand.New(rand.NewPCG(5, 6))
	defer nn.UseKernels(nn.Kernels{})
	const B, L, H, hd, ld = 2, 13, 4, 32, 3 * 4 * 32 // q, k, v of 4 heads: rotate q and k as 8
	table := nn.NewRopeTable(L+3, hd, 10000)
	x := make([]float32, B*L*ld)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	a, b := x[:1003], x[1003:2006]
	var rot, back, sum [2][]float32
	for i, ks := range []nn.Kernels{{}, k.Kernels()} {
		nn.UseKernels(ks)
		rot[i] = slices.Clone(x)
		nn.RoPE(rot[i], ld, table, B, L, 2*H)
		back[i] = slices.Clone(rot[i])
		nn.RoPEBackward(back[i], ld, table, B, L, 2*H)
		sum[i] = make([]float32, len(a))
		nn.Add(sum[i], a, b)
	}
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"rope", rot[1], rot[0]}, {"rope backward", back[1], back[0]}, {"add", sum[1], sum[0]}} {
		for i := range c.want {
			if math.Float32bits(c.got[i]) != math.Float32bits(c.want[i]) {
				t.Fatalf("%s[%d] = %g, Go's loop %g", c.name, i, c.got[i], c.want[i])
			}
		}
	}
	if slices.Equal(rot[1], x) || !slices.Equal(rot[1][2*H*hd:ld], x[2*H*hd:ld]) {
		t.Error("rope left q and k as they were, or changed v")
	}
}

// TestDequantizeQ8_0: the module's Q8_0 dequantiser gives core/quant's bits for every
// half as a block's scale (zeros, subnormals, normals, infinities, NaNs) and every int8
// value, and runs through quant.UseKernels.
func TestDequantizeQ8_0(t *testing.T) {
	k := load(t)
	const blocks = 1 << 16
	src := make([]byte, blocks*quant.BlockSizeQ8_0)
	for i := range blocks {
		b := src[i*quant.BlockSizeQ8_0:]
		b[0], b[1] = byte(i), byte(i>>8)
		for j := range quant.QK {
			b[2+j] = byte(i*7 + j*37) // every int8 value, over the blocks
		}
	}
	got, want := make([]float32, blocks*quant.QK), make([]float32, blocks*quant.QK)
	quant.DequantizeQ8_0(want, src)
	quant.UseKernels(k.QuantKernels())
	defer quant.UseKernels(quant.Kernels{})
	quant.DequantizeQ8_0Fast(got, src)
	for i := range got {
		g, w := math.Float32bits(got[i]), math.Float32bits(want[i])
		if g != w && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
			t.Fatalf("value %d (block %d, scale %#04x): %#08x (%g), core/quant %#08x (%g)", i, i/quant.QK, i/quant.QK, g, got[i], w, want[i])
		}
	}
	// A block of a partial slice, and lengths that do not fit, as core/quant's.
	part := make([]float32, quant.QK)
	k.DequantizeQ8_0(part, src[quant.BlockSizeQ8_0*0x3c00:][:quant.BlockSizeQ8_0])
	if part[5] != want[0x3c00*quant.QK+5] {
		t.Errorf("block 0x3c00 alone: value 5 = %g, want %g", part[5], want[0x3c00*quant.QK+5])
	}
	defer func() {
		if recover() == nil {
			t.Error("a source of the wrong length did not panic")
		}
	}()
	k.DequantizeQ8_0(part, src[:quant.BlockSizeQ8_0-1])
}

// TestLoadCompiled: the page's and the edge worker's path, a module compiled ahead of time
// and handed in, gives the same kernel, on helper threads too; anything else is refused
// with an error, not a panic.
func TestLoadCompiled(t *testing.T) {
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() {
		t.Skip("no globalThis.tdiffMemory: run with -exec wasm/simd/testdata/node_exec.sh (build/e2e.sh does)")
	}
	code := Module(false)
	if isShared(mem) {
		code = SharedModule(false)
	}
	buf := js.Global().Get("Uint8Array").New(len(code))
	js.CopyBytesToJS(buf, code)
	mod := js.Global().Get("WebAssembly").Get("Module").New(buf)
	if _, err := LoadCompiled(mod, mem, false, 1); err != nil {
		t.Fatal(err)
	}
	if isShared(mem) { // the page's path: the site's module, with helper threads
		k, err := LoadCompiled(mod, mem, false, 2)
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		if n, why := k.WaitThreads(time.Minute); n != 2 {
			t.Errorf("%d threads ready, want 2: %s", n, why)
		}
	}
	if _, err := LoadCompiled(buf, mem, false, 1); err == nil {
		t.Error("bytes accepted as a compiled module")
	}
	if _, err := LoadCompiled(mod, js.Undefined(), false, 1); err == nil {
		t.Error("no memory accepted")
	}
}
