// Package nn holds the layer kernels of the Transformer as plain functions over flat
// float32 slices: forward passes, and backward passes that add into gradients.
//
// Conventions (after llm.c): outputs first, sizes last; matrices are row-major; a weight
// W of a linear map is (out, in) and y = x W^T; every backward *adds* into its gradients
// so that callers zero them once per step. Kernels panic on wrong sizes (a programmer
// error), with constant messages.
package nn
