package nn

// Kernels are faster versions of some of nn's inference loops that a platform may install
// once at start-up (the browser's WebAssembly SIMD module, wasm/simd, where Go's own
// code has no SIMD); nil fields keep the Go loops. Each computes what the Go loop does,
// to float32 rounding.
type Kernels struct {
	Softmax func(s []float32, rows, L int, causal bool)             // softmaxRows on s (rows, L)
	SwiGLU  func(out, gate, up []float32)                           // SwiGLU over len(out) values
	RMSNorm func(out, rstd, in, w []float32, M, D int, eps float32) // RMSNorm, rstd not nil
	Add     func(out, a, b []float32)                               // Add over len(out) values
	// RoPE's rotation of rows rows of x (stride ld), row r at position r % L, H heads of
	// hd values (hd a multiple of 8), from cos and sin (L, hd/2), sin times sign (±1).
	Rope func(x []float32, ld int, cos, sin []float32, rows, L, H, hd int, sign float32)
	// Attention's work after its checks, scale = 1/sqrt(hd): each (sequence, head)
	// pair's score product, softmax and value product, as the Go code runs them on the
	// same kernels; false (nothing done) leaves a shape to the Go code.
	Attention func(out, probs, q, k, v []float32, ld, B, L, H, hd int, causal bool, scale float32) bool
}

var fast Kernels

// UseKernels installs k; the zero Kernels restores the Go loops.
func UseKernels(k Kernels) { fast = k }
