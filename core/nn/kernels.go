package nn

// Kernels are faster versions of some of nn's inference loops that a platform may install
// once at start-up (the browser's WebAssembly SIMD module, wasm/simd, where Go's own
// code has no SIMD); nil fields keep the Go loops. Each computes what the Go loop does,
// to float32 rounding.
type Kernels struct {
	Softmax func(s []float32, rows, L int, causal bool)             // softmaxRows on s (rows, L)
	SwiGLU  func(out, gate, up []float32)                           // SwiGLU over len(out) values
	RMSNorm func(out, rstd, in, w []float32, M, D int, eps float32) // RMSNorm, rstd not nil
}

var fast Kernels

// UseKernels installs k; the zero Kernels restores the Go loops.
func UseKernels(k Kernels) { fast = k }
