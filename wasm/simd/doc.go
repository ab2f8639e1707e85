// Package simd builds a small WebAssembly SIMD module holding matrix-product, softmax and
// SwiGLU kernels (Go's wasm port emits no SIMD) and, in the browser, puts them behind
// core/blas's Sgemm and core/nn's Kernels, so that the CPU fallback's forward pass runs
// on SIMD (with relaxed SIMD's fused multiply-add where the browser has it).
package simd
