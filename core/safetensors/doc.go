// Package safetensors reads (F32, F16, BF16) and writes (F32) Hugging Face safetensors files with strict validation, and exports and imports the model as a LLaMA-style Hugging Face folder.
package safetensors
