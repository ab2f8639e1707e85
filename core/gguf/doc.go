// Package gguf writes and reads GGUF v3 files (ggml's single-file model format: metadata key/values, tensor infos, aligned tensor data) and exports the masked diffusion model as llama.cpp's "llada" architecture.
package gguf
