// Package onnx writes the model's forward pass (token ids in, logits out) as an ONNX
// graph of standard opset-17 operators with f32 weights, encoded by a small protobuf
// writer of its own.
package onnx
