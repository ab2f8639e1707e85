// Package model holds the denoising network: a small LLaMA-style Transformer (pre-RMSNorm,
// rotary positions, SwiGLU, no biases, untied head) whose attention has no causal mask
// unless Config.Causal is set for the autoregressive baseline.
package model
