package main

import (
	"fmt"
	"io"
	"os"

	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/onnx"
)

// writeONNX exports the checkpoint or release file in (quantized weights dequantized to
// f32) as the ONNX graph of its forward pass at path.
func writeONNX(stdout io.Writer, in, path string) error {
	m, _, err := model.Load(in)
	if err != nil {
		return cli.FileError(in, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return cli.FileError(path, err)
	}
	if err := onnx.Write(f, m); err != nil {
		f.Close()
		os.Remove(path)
		return cli.FileError(path, err)
	}
	if err := f.Close(); err != nil {
		return cli.FileError(path, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return cli.FileError(path, err)
	}
	kind := "masked"
	if m.Cfg.Causal {
		kind = "causal"
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes) from %s: ONNX opset %d, %s model, input_ids (batch, seq <= %d) -> logits (batch, seq, %d); exclude token %d (MASK) when sampling\n",
		path, st.Size(), in, onnx.Opset, kind, m.Cfg.SeqLen, m.Cfg.Vocab, m.Cfg.MaskID())
	return nil
}
