//go:build js && wasm

package simd

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// threaded returns the kernel on Go's shared memory on one thread and on n threads, the
// helpers ready; it skips where the memory is not shared.
func threaded(t testing.TB, n int) (one, many *Impl) {
	t.Helper()
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() || !isShared(mem) {
		t.Skip("no shared Go memory: run with -exec wasm/simd/testdata/node_exec.sh (build/e2e.sh does)")
	}
	one, err := LoadThreads(mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	many, err = LoadThreads(mem, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(many.Close)
	if got, why := many.WaitThreads(time.Minute); got != n {
		t.Fatalf("%d threads ready, want %d: %s", got, n, why)
	}
	return one, many
}

// TestPoolSgemm: products split over three threads write exactly what one thread writes
// (each column is computed by the same code in the same order), agree with gonum, leave
// C's other columns alone, and the helpers ran some of the chunks.
func TestPoolSgemm(t *testing.T) {
	one, three := threaded(t, 3)
	fill := normals(rand.New(rand.NewPCG(3, 4)))
	for _, tc := range []struct {
		tB      gblas.Transpose
		m, n, k int
	}{
		{gblas.Trans, 58, 768, 256},   // a layer's q, k, v
		{gblas.Trans, 58, 4096, 256},  // the head
		{gblas.NoTrans, 58, 258, 768}, // uneven shares
		{gblas.Trans, 300, 13, 512},   // chunks of 4, 4 and 5 columns
		{gblas.Trans, 2000, 6, 512},   // too few columns to split
		{gblas.Trans, 9, 20, 64},      // too small to split
		{gblas.NoTrans, 128, 1000, 64},
	} {
		for _, beta := range []float32{0, 1} {
			ldb := tc.k
			if tc.tB == gblas.NoTrans {
				ldb = tc.n + 3
			}
			a, b := fill(tc.m*tc.k), fill(max(tc.n, tc.k)*ldb)
			ldc := tc.n + 5 // the columns past n must stay as they are
			c0 := fill(tc.m * ldc)
			got, want, ref := slices.Clone(c0), slices.Clone(c0), slices.Clone(c0)
			seq := three.pool.seq
			three.Sgemm(gblas.NoTrans, tc.tB, tc.m, tc.n, tc.k, 0.5, a, tc.k, b, ldb, beta, got, ldc)
			one.Sgemm(gblas.NoTrans, tc.tB, tc.m, tc.n, tc.k, 0.5, a, tc.k, b, ldb, beta, want, ldc)
			gonum.Implementation{}.Sgemm(gblas.NoTrans, tc.tB, tc.m, tc.n, tc.k, 0.5, a, tc.k, b, ldb, beta, ref, ldc)
			split := three.pool.seq != seq
			if wantSplit := tc.m*tc.n*tc.k >= minSplit && tc.n >= 2*Cols; split != wantSplit {
				t.Errorf("%v %dx%dx%d: split %v, want %v", tc.tB, tc.m, tc.n, tc.k, split, wantSplit)
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v %dx%dx%d beta %g: C[%d] = %g on 3 threads, %g on one", tc.tB, tc.m, tc.n, tc.k, beta, i, got[i], want[i])
				}
				if d := math.Abs(float64(got[i] - ref[i])); !(d <= 1e-4*(1+math.Abs(float64(ref[i])))) {
					t.Fatalf("%v %dx%dx%d beta %g: C[%d] = %g, gonum %g", tc.tB, tc.m, tc.n, tc.k, beta, i, got[i], ref[i])
				}
			}
		}
	}
	if three.pool.seq == 0 || three.pool.ctl[jobHelped] == 0 {
		t.Fatalf("%d products split, %d chunks run by the helpers: the helpers did nothing", three.pool.seq, three.pool.ctl[jobHelped])
	}
	t.Logf("%d products split; the helpers ran %d chunks", three.pool.seq, three.pool.ctl[jobHelped])
}

// TestLoadThreadsRefused: helper threads need a shared memory and a positive count.
func TestLoadThreadsRefused(t *testing.T) {
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() {
		t.Skip("no globalThis.tdiffMemory: run with -exec wasm/simd/testdata/node_exec.sh")
	}
	if _, err := LoadThreads(mem, 0); err == nil {
		t.Error("0 threads accepted")
	}
	unshared := js.Global().Get("WebAssembly").Get("Memory").New(map[string]any{"initial": 1})
	if _, err := LoadThreads(unshared, 2); err == nil {
		t.Error("2 threads on an unshared memory accepted")
	}
}

// TestPoolHelperFails: a helper whose kernel cannot start (here: a module that wants an
// unshared memory) leaves the products on one thread, and says why.
func TestPoolHelperFails(t *testing.T) {
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() || !isShared(mem) {
		t.Skip("no shared Go memory: run with -exec wasm/simd/testdata/node_exec.sh")
	}
	k, err := LoadThreads(mem, 1)
	if err != nil {
		t.Fatal(err)
	}
	wrong := js.Global().Get("WebAssembly").Get("Module").New(bytesJS(Module(false)))
	k.pool, err = startPool(wrong, mem, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if n, why := k.WaitThreads(time.Minute); n != 1 || !strings.Contains(why, "could not start") {
		t.Fatalf("%d threads (%q), want 1 and why", n, why)
	}
	a := make([]float32, 64*256)
	c := make([]float32, 64*768)
	k.Sgemm(gblas.NoTrans, gblas.Trans, 64, 768, 256, 1, a, 256, make([]float32, 768*256), 256, 0, c, 768)
	if k.pool.seq != 0 {
		t.Fatal("a product was split over a pool that never started")
	}
}

// TestPoolBackToBack: many small split products in a row, so that Go often finishes one
// alone before the helper wakes for it; a helper that wakes late must take nothing of
// the next product (once it used up one of the next product's chunks, which then went
// uncomputed).
func TestPoolBackToBack(t *testing.T) {
	one, two := threaded(t, 2)
	const m, n, k = 16, 256, 256 // just over minSplit
	fill := normals(rand.New(rand.NewPCG(7, 8)))
	a, b := fill(m*k), fill(n*k)
	want := make([]float32, m*n)
	one.Sgemm(gblas.NoTrans, gblas.Trans, m, n, k, 1, a, k, b, k, 0, want, n)
	got := make([]float32, m*n)
	for run := range 15000 {
		clear(got)
		two.Sgemm(gblas.NoTrans, gblas.Trans, m, n, k, 1, a, k, b, k, 0, got, n)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("run %d: C[%d] = %g on 2 threads, %g on one", run, i, got[i], want[i])
			}
		}
	}
	t.Logf("%d products split; the helper ran %d chunks", two.pool.seq, two.pool.ctl[jobHelped])
}

// TestPoolAttention: the module's attention, on one thread and shared out over three by
// (sequence, head) pairs, writes exactly what core/nn's loop writes on this kernel's
// Sgemm and Softmax (the path it replaces), for uneven chunks, causal or not, q, k and v
// in one projection's rows; shapes too small for the kernel's products go to that loop.
func TestPoolAttention(t *testing.T) {
	one, three := threaded(t, 3)
	fill := normals(rand.New(rand.NewPCG(7, 8)))
	blas.Use(one, "wasm-simd")
	defer blas.Use(gonum.Implementation{}, "gonum")
	defer nn.UseKernels(nn.Kernels{})
	for _, tc := range []struct{ b, l, h, hd int }{
		{1, 128, 8, 32}, // the released model's window
		{3, 58, 8, 32},  // a batch of speculative drafts
		{2, 64, 25, 8},  // 50 pairs in chunks of 3 and a last one of 2
		{1, 13, 2, 16},  // too small to share out
		{2, 3, 2, 8},    // shorter than the products' block: the Go loop
	} {
		d := tc.h * tc.hd
		ld := 3 * d
		qkv := fill(tc.b * tc.l * ld)
		q, k, v := qkv, qkv[d:], qkv[2*d:]
		for _, causal := range []bool{false, true} {
			var out, probs [3][]float32
			seq := three.pool.seq
			for i, ks := range []nn.Kernels{{Softmax: one.Softmax}, one.Kernels(), three.Kernels()} {
				nn.UseKernels(ks)
				out[i], probs[i] = make([]float32, tc.b*tc.l*d), make([]float32, tc.b*tc.h*tc.l*tc.l)
				nn.Attention(out[i], probs[i], q, k, v, ld, tc.b, tc.l, tc.h, tc.hd, causal)
			}
			for i, name := range []string{"", "one thread", "three threads"} {
				if i == 0 {
					continue
				}
				for _, c := range []struct {
					what      string
					got, want []float32
				}{{"out", out[i], out[0]}, {"probs", probs[i], probs[0]}} {
					for j := range c.want {
						if math.Float32bits(c.got[j]) != math.Float32bits(c.want[j]) {
							t.Fatalf("%+v causal=%v, %s: %s[%d] = %g, the loop on Sgemm %g", tc, causal, name, c.what, j, c.got[j], c.want[j])
						}
					}
				}
			}
			shared := three.pool.seq != seq
			if want := 2*tc.b*tc.h*tc.l*tc.l*tc.hd >= minSplit && tc.l >= Cols; shared != want {
				t.Errorf("%+v: shared out %v, want %v", tc, shared, want)
			}
		}
	}
	t.Logf("the helpers ran %d chunks in all", three.pool.ctl[jobHelped])
}
