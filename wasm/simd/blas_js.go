//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"math"
	"syscall/js"
	"time"
	"unsafe"

	gblas "gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Impl is a float32 BLAS for core/blas.Use: Sgemm's A B^T and A B cases (every product
// of the forward pass) run on the kernels (kernels_js.go), the rest on gonum. Its
// Kernels are core/nn's softmax, SwiGLU and RMSNorm on the module, for nn.UseKernels.
type Impl struct {
	gonum.Implementation
	pack, nt, nn    js.Value // the module's exports
	softmax, swiglu js.Value
	rmsnorm, deq8   js.Value
	add, rope       js.Value
	attention       js.Value
	packed          []float32 // scratch: A in panels
	attnPacked      []float32 // scratch: attention's packed operands, one block per chunk
	pool            *pool     // helper threads, on a shared memory; nil on one thread
	noPool          string    // why there is no pool where one was asked for
	module          js.Value  // the compiled module, which helper threads instantiate too
	// Fused says the module runs on relaxed SIMD's fused multiply-add.
	Fused bool
}

var _ gblas.Float32 = (*Impl)(nil)

// Load compiles the kernel, with relaxed SIMD's fused multiply-add where the browser
// validates it, instantiates it on mem, the WebAssembly.Memory that Go's own instance
// exports as "mem" (the page hands it over: Go cannot reach it), and checks it against
// gonum and the Go loops. It fails where the browser has no WebAssembly SIMD. On a shared
// memory it also starts helper threads, DefaultThreads in all (see LoadThreads).
func Load(mem js.Value) (*Impl, error) { return LoadThreads(mem, DefaultThreads(mem)) }

// LoadThreads is Load with the products split over threads threads (pool_js.go), which
// needs a shared memory when threads > 1. The helpers start in the background: until
// they have all answered, the products run on the calling thread alone (Threads says
// which), and so they do for good when no helper can start (WaitThreads says why).
func LoadThreads(mem js.Value, threads int) (*Impl, error) {
	flavour := Module
	if mem.Truthy() && isShared(mem) {
		flavour = SharedModule
	}
	return loadModule(mem, threads, func() (js.Value, bool) {
		wa := js.Global().Get("WebAssembly")
		if buf := bytesJS(flavour(true)); wa.Call("validate", buf).Bool() {
			return wa.Get("Module").New(buf), true // synchronous compile: allowed in workers, and it is small
		}
		return wa.Get("Module").New(bytesJS(flavour(false))), false // no relaxed SIMD here
	})
}

// LoadCompiled is LoadThreads for a kernel module compiled ahead of time, mod, a
// WebAssembly.Module of Module(fused)'s bytes, or SharedModule(fused)'s on a shared
// memory: the page compiles the site's copy as it streams in, beside the engine, and the
// edge worker bundles one (Cloudflare Workers compile nothing at run time). A program
// that loads only this way leaves the module's builder out of its binary.
func LoadCompiled(mod, mem js.Value, fused bool, threads int) (*Impl, error) {
	if !mod.Truthy() || !mod.InstanceOf(js.Global().Get("WebAssembly").Get("Module")) {
		return nil, errors.New("simd: no compiled WebAssembly.Module of the kernel given")
	}
	return loadModule(mem, threads, func() (js.Value, bool) { return mod, fused })
}

// loadModule instantiates the module compile gives on mem, checks it and starts the helpers.
func loadModule(mem js.Value, threads int, compile func() (js.Value, bool)) (*Impl, error) {
	if threads < 1 {
		return nil, fmt.Errorf("simd: %d threads", threads)
	}
	if threads > 1 && !(mem.Truthy() && isShared(mem)) {
		return nil, fmt.Errorf("simd: %d threads need a shared memory (a cross-origin isolated page and Go's binary made by ShareMemory)", threads)
	}
	s, err := instantiate(mem, compile)
	if err != nil || threads == 1 {
		return s, err
	}
	// Without helpers (a host whose workers cannot start workers) the kernel still runs,
	// on this thread, and WaitThreads says why.
	if s.pool, err = startPool(s.module, mem, threads); err != nil {
		s.noPool = err.Error()
	}
	return s, nil
}

// Threads is how many threads the products run on now: 1 until the helpers are ready.
func (s *Impl) Threads() int { return s.pool.threads() }

// WaitThreads blocks until the helper threads have answered, or for at most timeout
// (at once without helpers), and returns Threads and, when that is 1 with helpers
// asked for, why. It needs the JavaScript event loop to run meanwhile, so call it from a
// goroutine that may block, never from a js.FuncOf callback.
func (s *Impl) WaitThreads(timeout time.Duration) (threads int, why string) {
	if s.pool == nil {
		return 1, s.noPool
	}
	select {
	case <-s.pool.settled:
	case <-time.After(timeout):
		return s.Threads(), fmt.Sprintf("the helper threads did not answer within %v", timeout)
	}
	if f, ok := s.pool.failed.Load().(string); ok {
		return s.Threads(), f
	}
	return s.Threads(), ""
}

// Close stops the helper threads, if any; the Impl then runs on one thread.
func (s *Impl) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// instantiate builds the Impl from the module compile gives (and whether it is the fused
// flavour) on mem, and checks it.
func instantiate(mem js.Value, compile func() (js.Value, bool)) (s *Impl, err error) {
	if !mem.Truthy() || !mem.InstanceOf(js.Global().Get("WebAssembly").Get("Memory")) {
		return nil, errors.New("simd: no WebAssembly.Memory of Go's instance given")
	}
	defer func() {
		if r := recover(); r != nil { // a js.Error from a host without SIMD
			s, err = nil, fmt.Errorf("simd: %v", r)
		}
	}()
	mod, fused := compile()
	s = &Impl{Fused: fused, module: mod}
	imports := js.ValueOf(map[string]any{"env": map[string]any{"mem": mem}})
	ex := js.Global().Get("WebAssembly").Get("Instance").New(mod, imports).Get("exports")
	s.pack, s.nt, s.nn = ex.Get("pack"), ex.Get("gemm_nt"), ex.Get("gemm_nn")
	s.softmax, s.swiglu, s.rmsnorm = ex.Get("softmax"), ex.Get("swiglu"), ex.Get("rmsnorm")
	s.deq8, s.add, s.rope = ex.Get("dequant_q8_0"), ex.Get("add"), ex.Get("rope")
	s.attention = ex.Get("attention")
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

func bytesJS(b []byte) js.Value {
	buf := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(buf, b)
	return buf
}

// check compares products of both kernels, with a partial panel and a partial block of
// columns, against gonum.
func (s *Impl) check() error {
	const m, n, k = 11, 10, 10
	for _, tB := range []gblas.Transpose{gblas.Trans, gblas.NoTrans} {
		if err := s.check1(tB, m, n, k); err != nil {
			return err
		}
	}
	if err := s.checkElementwise(); err != nil {
		return err
	}
	return s.checkDequantize()
}

func (s *Impl) check1(tB gblas.Transpose, m, n, k int) error {
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
	ldb := k
	if tB == gblas.NoTrans {
		ldb = n
	}
	s.Sgemm(gblas.NoTrans, tB, m, n, k, 0.5, a, k, b, ldb, 2, got, n)
	gonum.Implementation{}.Sgemm(gblas.NoTrans, tB, m, n, k, 0.5, a, k, b, ldb, 2, want, n)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
			return fmt.Errorf("simd: self-check (%v): C[%d] = %g, gonum says %g", tB, i, got[i], want[i])
		}
	}
	return nil
}

func addr[T float32 | int32 | byte](v []T) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(v))))
}
