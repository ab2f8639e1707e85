// Package train holds the training loop shared by the masked-diffusion model and the
// autoregressive baseline: batches, objective, AdamW steps, validation, and checkpoints
// that resume an interrupted run exactly.
package train
