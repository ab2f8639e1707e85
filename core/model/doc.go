// Package model holds the denoising network: a small LLaMA-style Transformer (pre-RMSNorm,
// rotary positions, SwiGLU, no biases, untied head) whose attention has no causal mask
// unless Config.Causal is set for the autoregressive baseline. Config.Shift marks a masked
// model adapted from that baseline: its head reads each position's logits from the hidden
// state one position earlier, where the baseline learned to predict the token.
package model
