// Package tokenizer is a GPT-2-style byte-level BPE tokenizer, trained in Go and stored as a Hugging Face tokenizer.json.
package tokenizer
