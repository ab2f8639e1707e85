//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"syscall/js"
	"unsafe"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Impl is a float32 BLAS for core/blas.Use: Sgemm's A B^T case (every product of the
// forward pass but attention's P V) runs on the kernel, the rest on gonum.
type Impl struct {
	gonum.Implementation
	fn js.Value // the module's sgemm_nt
}

var _ gblas.Float32 = (*Impl)(nil)

// Load compiles the kernel and instantiates it on mem, the WebAssembly.Memory that Go's
// own instance exports as "mem" (the page hands it over: Go cannot reach it), and checks
// one product against gonum. It fails where the browser has no WebAssembly SIMD.
func Load(mem js.Value) (*Impl, error) {
	return instantiate(mem, func() js.Value {
		code := Module()
		buf := js.Global().Get("Uint8Array").New(len(code))
		js.CopyBytesToJS(buf, code)
		return js.Global().Get("WebAssembly").Get("Module").New(buf) // synchronous compile: allowed in workers, and it is small
	})
}

// LoadCompiled is Load for a host that refuses to compile WebAssembly at run time
// (Cloudflare Workers): mod is Module's bytes compiled ahead of time, a WebAssembly.Module
// bundled with the program.
func LoadCompiled(mod, mem js.Value) (*Impl, error) {
	if !mod.Truthy() || !mod.InstanceOf(js.Global().Get("WebAssembly").Get("Module")) {
		return nil, errors.New("simd: no compiled WebAssembly.Module of the kernel given")
	}
	return instantiate(mem, func() js.Value { return mod })
}

func instantiate(mem js.Value, compile func() js.Value) (s *Impl, err error) {
	if !mem.Truthy() || !mem.InstanceOf(js.Global().Get("WebAssembly").Get("Memory")) {
		return nil, errors.New("simd: no WebAssembly.Memory of Go's instance given")
	}
	defer func() {
		if r := recover(); r != nil { // a js.Error from a host without SIMD
			s, err = nil, fmt.Errorf("simd: %v", r)
		}
	}()
	imports := js.ValueOf(map[string]any{"env": map[string]any{"mem": mem}})
	inst := js.Global().Get("WebAssembly").Get("Instance").New(compile(), imports)
	s = &Impl{fn: inst.Get("exports").Get("sgemm_nt")}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check compares a product with edges in both directions against gonum.
func (s *Impl) check() error {
	const m, n, k = 7, 10, 12
	a, b := make([]float32, m*k), make([]float32, n*k)
	for i := range a {
		a[i] = float32(math.Sin(float64(i)))
	}
	for i := range b {
		b[i] = float32(math.Cos(float64(3 * i)))
	}
	got, want := make([]float32, m*n), make([]float32, m*n)
	for i := range got {
		got[i], want[i] = 1, 1
	}
	s.Sgemm(gblas.NoTrans, gblas.Trans, m, n, k, 0.5, a, k, b, k, 2, got, n)
	gonum.Implementation{}.Sgemm(gblas.NoTrans, gblas.Trans, m, n, k, 0.5, a, k, b, k, 2, want, n)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
			return fmt.Errorf("simd: self-check: C[%d] = %g, gonum says %g", i, got[i], want[i])
		}
	}
	return nil
}

func addr(v []float32) int { return int(uintptr(unsafe.Pointer(unsafe.SliceData(v)))) }

// Sgemm computes C = alpha op(A) op(B) + beta C like gonum's, which it calls for every
// case but (NoTrans, Trans) with k a multiple of 4, and for the edge rows and columns the
// kernel's 2x4 blocks leave.
func (s *Impl) Sgemm(tA, tB gblas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	g := gonum.Implementation{}
	m2, n4 := m&^1, n&^3
	if tA != gblas.NoTrans || tB != gblas.Trans || k == 0 || k%4 != 0 || m2 == 0 || n4 == 0 ||
		lda < k || ldb < k || ldc < n || len(a) < (m-1)*lda+k || len(b) < (n-1)*ldb+k || len(c) < (m-1)*ldc+n {
		g.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) // gonum also panics on bad shapes
		return
	}
	s.fn.Invoke(m2, n4, k, addr(a), lda, addr(b), ldb, addr(c), ldc, alpha, beta)
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	runtime.KeepAlive(c)
	if n4 < n {
		g.Sgemm(tA, tB, m2, n-n4, k, alpha, a, lda, b[n4*ldb:], ldb, beta, c[n4:], ldc)
	}
	if m2 < m {
		g.Sgemm(tA, tB, m-m2, n, k, alpha, a[m2*lda:], lda, b, ldb, beta, c[m2*ldc:], ldc)
	}
}
