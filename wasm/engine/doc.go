// Package engine loads a release file and samples from it for the browser demo: it picks
// the backend (GPU when it passes a self-test against the CPU model, else the CPU model),
// runs cancellable sampling and renders each step as text pieces with masked positions marked.
package engine
