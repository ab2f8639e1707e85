// Package engine loads a release file and samples from it, for the browser page
// (wasm/main.go) and the edge worker (wasm/edge) alike: it keeps the model for inference
// only, picks the backend (a GPU when one is handed in and passes a self-test against the
// CPU model, else the CPU model), runs cancellable sampling and renders each step as text
// pieces with masked positions marked.
package engine
