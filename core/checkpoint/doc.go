// Package checkpoint reads and writes the project's one weights file format (training checkpoints and release files alike): a magic, a version, a JSON manifest and a zstd-compressed, SHA-256-checked payload of f32, f16, Q8_0 or Q4_0 tensors.
package checkpoint
