// Package gpu runs the model's forward pass on WebGPU in the browser, with one WGSL shader per op.
package gpu
