// Package interop checks the project's exports with foreign readers: the GGUF file with
// @huggingface/gguf, the ONNX graph with onnxruntime-node, the Hugging Face folder with
// transformers.js. The checks are Go tests that write a file and run a node script on it;
// `make test-interop` runs them with TDIFF_INTEROP=1, which turns missing node or npm
// packages into failures (plain `go test ./...` skips them, saying why).
package interop
