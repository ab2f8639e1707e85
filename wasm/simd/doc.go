// Package simd builds a small WebAssembly SIMD module holding a matrix-product kernel
// (Go's wasm port emits no SIMD) and, in the browser, puts it behind core/blas's Sgemm so
// that the CPU fallback runs several times faster than gonum's pure Go.
package simd
