// Command quantize converts a checkpoint into a release file with quantized
// weights, and converts between checkpoints and Hugging Face folders.
//
//	quantize -in F -out G -type q8_0|q4_0|f16 [-keep-embeddings] [-head TYPE] [-emb TYPE] [-all]
//	quantize -in F -export-hf DIR
//	quantize -in F -export-onnx FILE
//	quantize -import-hf DIR -out G [-type ...]
//	quantize -in F -export-gguf G.gguf [-type ...]
//
// Policy (recorded in the output's notes): vectors (norm gains) stay f32,
// as in ggml: they are tiny and scale every activation. With -type q4_0 the
// output head is stored as q8_0 by default and the input embedding follows
// -type, because that is where the bytes buy the most accuracy. Measured on
// the demo AR model (1800 steps, exact NLL in nats/token on 16,384 Persuasion
// tokens; f32 4.2859, 29.0 MB):
//
//	q8_0 everywhere                     4.2857 (-0.0002)   7.86 MB
//	q4_0 everywhere                     4.2937 (+0.0078)   4.25 MB
//	q4_0, head q8_0 (default)           4.2895 (+0.0036)   4.78 MB
//	q4_0, tok_emb q8_0                  4.2926 (+0.0067)   4.78 MB
//	q4_0, both q8_0                     4.2884 (+0.0025)   5.30 MB
//	q4_0, both f32 (-keep-embeddings)   4.2885 (+0.0026)  11.46 MB
//
// The same 0.52 MB recovers 0.0042 nats on the head and 0.0011 on the
// embedding: the head's error lands directly on the logits, an embedding
// row's error is damped by the first RMSNorm. -head and -emb override.
// Only model tensors (tok_emb, layers.N.*, norm, head) and no training
// state go into the output unless -all is given.
//
// -export-gguf writes the masked model for llama.cpp's llama-diffusion-cli
// (architecture "llada"; core/gguf says why and what is adapted) with the
// same dtype policy, in place of -out.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/gguf"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/safetensors"
)

func main() { cli.Main("quantize", run) }

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("quantize", flag.ContinueOnError)
	fl.SetOutput(stderr)
	in := fl.String("in", "", "input checkpoint `file`")
	out := fl.String("out", "", "output checkpoint `file`")
	typ := fl.String("type", "", "weight dtype: q8_0, q4_0, f16 or f32")
	keepEmb := fl.Bool("keep-embeddings", false, "store tok_emb and head at f32")
	head := fl.String("head", "auto", "head dtype (auto: q8_0 when -type is q4_0, else -type)")
	emb := fl.String("emb", "auto", "tok_emb dtype (auto: -type)")
	all := fl.Bool("all", false, "keep non-model tensors (optimizer moments, at f32) and the training state")
	exportHF := fl.String("export-hf", "", "write -in as a Hugging Face `folder` (model.safetensors, config.json, generation_config.json, tokenizer.json, tokenizer_config.json)")
	importHF := fl.String("import-hf", "", "read a Hugging Face `folder` instead of -in")
	exportONNX := fl.String("export-onnx", "", "write -in's forward pass (input_ids int64 (batch, seq) in, logits f32 (batch, seq, vocab) out) as an ONNX `file`, opset 17, f32 weights")
	encoderFile := fl.String("encoder-file", "", "continuous models: leave out the encoder's tensors and refer to this `file` instead, the released masked model the run encoded with (checked bit for bit; it must ship beside the output)")
	exportGGUF := fl.String("export-gguf", "", "write the masked model as a GGUF `file` for llama.cpp's llama-diffusion-cli (instead of -out; -type, -head, -emb apply)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}

	if *exportHF != "" {
		if *in == "" || *out != "" || *importHF != "" || *typ != "" {
			return errors.New("-export-hf takes -in and nothing else")
		}
		f, err := checkpoint.Load(*in)
		if err != nil {
			return cli.FileError(*in, err)
		}
		if err := safetensors.ExportHF(*exportHF, f); err != nil {
			return cli.FileError(*exportHF, err)
		}
		fmt.Fprintf(stdout, "wrote %s (model.safetensors, config.json, generation_config.json%s) from %s\n", *exportHF,
			map[bool]string{true: ", tokenizer.json, tokenizer_config.json"}[len(f.Tokenizer) > 0], *in)
		return nil
	}

	if *exportONNX != "" {
		if *in == "" || *out != "" || *importHF != "" || *exportHF != "" || *exportGGUF != "" || *typ != "" {
			return errors.New("-export-onnx takes -in and nothing else")
		}
		return writeONNX(stdout, *in, *exportONNX)
	}

	if (*out == "") == (*exportGGUF == "") || (*in == "") == (*importHF == "") {
		return errors.New("need -out or -export-gguf (one of them) and exactly one of -in or -import-hf (see -h)")
	}
	if *exportGGUF != "" && *all {
		return errors.New("-all keeps training tensors, which a GGUF file has no place for")
	}
	var f *checkpoint.File
	var err error
	src := *in
	if *importHF != "" {
		src = *importHF
		f, err = safetensors.ImportHF(*importHF)
	} else {
		f, err = checkpoint.Load(*in)
	}
	if err != nil {
		return cli.FileError(src, err)
	}
	if *encoderFile != "" {
		if f.Notes["kind"] != continuous.Kind {
			return fmt.Errorf("-encoder-file: %s is not a continuous diffusion model", src)
		}
		raw, err := os.ReadFile(*encoderFile)
		if err != nil {
			return fmt.Errorf("-encoder-file: %w", err)
		}
		if err := continuous.Detach(f, *encoderFile, raw); err != nil {
			return cli.FileError(src, err)
		}
	}
	if *typ == "" {
		*typ = "f32"
	}
	dt, err := checkpoint.ParseDType(*typ)
	if err != nil {
		return fmt.Errorf("-type: %v", err)
	}
	headDT := dt
	if dt == checkpoint.Q4_0 {
		headDT = checkpoint.Q8_0
	}
	if *head != "auto" {
		if headDT, err = checkpoint.ParseDType(*head); err != nil {
			return fmt.Errorf("-head: %v", err)
		}
	}
	tokDT := dt
	if *emb != "auto" {
		if tokDT, err = checkpoint.ParseDType(*emb); err != nil {
			return fmt.Errorf("-emb: %v", err)
		}
	}
	if *keepEmb {
		headDT, tokDT = checkpoint.F32, checkpoint.F32
	}

	// Select the tensors, then decide each one's dtype.
	var dropped []string
	kept := &checkpoint.File{Config: f.Config, Tokenizer: f.Tokenizer, Notes: f.Notes}
	if *all {
		kept.State = f.State
	}
	for _, t := range f.Tensors {
		if model.IsParam(t.Name) || *all {
			kept.Tensors = append(kept.Tensors, t)
		} else {
			dropped = append(dropped, t.Name)
		}
	}
	plan := func(t *checkpoint.Tensor) checkpoint.DType {
		want := dt
		switch {
		case !model.IsParam(t.Name):
			want = checkpoint.F32 // optimizer moments are not for inference
		case len(t.Shape) < 2:
			want = checkpoint.F32 // norm gains: tiny, and they scale every activation
		case t.Name == "head":
			want = headDT
		case t.Name == "tok_emb":
			want = tokDT
		}
		if want.Blocked() && !checkpoint.Quantizable(t.Shape) {
			want = checkpoint.F32
		}
		return want
	}
	g, err := checkpoint.Convert(kept, plan)
	if err != nil {
		return cli.FileError(src, err)
	}
	var higher, summary []string // all names; matrices named and vectors counted
	vectors := 0
	for _, t := range g.Tensors {
		if model.IsParam(t.Name) && precision(t.DType) > precision(dt) {
			higher = append(higher, t.Name+"="+t.DType.String())
			if len(t.Shape) == 1 {
				vectors++
			} else {
				summary = append(summary, t.Name+" "+t.DType.String())
			}
		}
	}
	if vectors > 0 {
		summary = append(summary, fmt.Sprintf("%d vectors (norm gains) f32", vectors))
	}
	if g.Notes == nil {
		g.Notes = map[string]string{}
	} else {
		g.Notes = cloneNotes(g.Notes)
	}
	g.Notes["quant.dtype"] = dt.String()
	g.Notes["quant.higher_precision"] = strings.Join(higher, ",")
	g.Notes["quant.policy"] = fmt.Sprintf("vectors f32; head %s; tok_emb %s; other matrices %s (ggml reference rounding)", headDT, tokDT, dt)

	if *exportGGUF != "" {
		gf, err := gguf.FromCheckpoint(g, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)))
		if err != nil {
			return cli.FileError(src, err)
		}
		if err := gguf.WriteFile(*exportGGUF, gf); err != nil {
			return cli.FileError(*exportGGUF, err)
		}
		st, err := os.Stat(*exportGGUF)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (GGUF v3, architecture %s, %d tensors, %d bytes; %s) from %s\n",
			*exportGGUF, gguf.Arch, len(gf.Tensors), st.Size(), g.Notes["quant.policy"], src)
		return nil
	}

	if err := checkpoint.Save(*out, g); err != nil {
		return cli.FileError(*out, err)
	}
	return report(stdout, kept, g, dropped, summary, *out)
}

// precision orders dtypes by bits per value.
func precision(d checkpoint.DType) int {
	switch d {
	case checkpoint.F32:
		return 32
	case checkpoint.F16:
		return 16
	case checkpoint.Q8_0:
		return 8
	}
	return 4
}

func cloneNotes(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// countingWriter counts bytes, to size a file without writing it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func report(w io.Writer, in, out *checkpoint.File, dropped, higher []string, path string) error {
	// higher is the human summary of what stayed above the requested dtype.
	allF32, err := checkpoint.Convert(in, func(*checkpoint.Tensor) checkpoint.DType { return checkpoint.F32 })
	if err != nil {
		return err
	}
	var f32Size countingWriter
	if err := checkpoint.Encode(&f32Size, allF32); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-28s %-12s %-5s %12s %9s\n", "tensor", "shape", "dtype", "bytes", "rel.err")
	var params, raw int64
	for i, t := range out.Tensors {
		n := int64(t.Len())
		params += n
		b := int64(len(t.Raw)) + 4*int64(len(t.F32))
		raw += b
		e := "-"
		if t.DType != checkpoint.F32 || in.Tensors[i].DType != checkpoint.F32 {
			x, _ := in.Tensors[i].Float32()
			y, _ := t.Float32()
			e = fmt.Sprintf("%.4f", relRMS(x, y))
		}
		fmt.Fprintf(w, "%-28s %-12s %-5s %12d %9s\n", t.Name, shapeString(t.Shape), t.DType, b, e)
	}
	fmt.Fprintf(w, "\ntensors             %d", len(out.Tensors))
	if len(dropped) > 0 {
		fmt.Fprintf(w, " (%d non-model tensors and the training state left out; -all keeps them)", len(dropped))
	}
	fmt.Fprintf(w, "\nparameters          %d\n", params)
	fmt.Fprintf(w, "f32 file            %d bytes (these tensors at f32, same format)\n", int64(f32Size))
	fmt.Fprintf(w, "output file         %d bytes (%d before compression)\n", st.Size(), raw)
	fmt.Fprintf(w, "bytes per parameter %.3f\n", float64(st.Size())/float64(max(params, 1)))
	fmt.Fprintf(w, "compression ratio   %.2fx vs the f32 file\n", float64(f32Size)/float64(st.Size()))
	if len(higher) == 0 {
		higher = []string{"none"}
	}
	fmt.Fprintf(w, "higher precision    %s\n", strings.Join(higher, ", "))
	return nil
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func relRMS(x, y []float32) float64 {
	var num, den float64
	for i := range x {
		d := float64(x[i]) - float64(y[i])
		num += d * d
		den += float64(x[i]) * float64(x[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
