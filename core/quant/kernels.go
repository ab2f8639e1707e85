package quant

// Kernels are faster dequantisers a platform may install once at start-up (the
// browser's WebAssembly SIMD module, wasm/simd, where Go's own code has no SIMD and a
// first visit runs it from the browser's baseline compiler); nil fields keep the Go
// loops. Each must give the Go loop's bits.
type Kernels struct {
	Q8_0 func(dst []float32, src []byte) // DequantizeQ8_0Fast's work, lengths checked
}

var fast Kernels

// UseKernels installs k; the zero Kernels restores the Go loops.
func UseKernels(k Kernels) { fast = k }
