package main

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/clitest"
)

// writeModel saves a small model checkpoint with an optimizer moment and
// training state, and returns its path.
func writeModel(t *testing.T, dir string) string {
	t.Helper()
	V, D, F := 64, 32, 96
	r := rand.New(rand.NewPCG(1, 1))
	mat := func(name string, shape ...int) checkpoint.Tensor {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 0.02)
		}
		if len(shape) == 1 {
			for i := range x {
				x[i] = 1
			}
		}
		return checkpoint.Tensor{Name: name, Shape: shape, F32: x}
	}
	f := &checkpoint.File{
		Config:    json.RawMessage(`{"vocab":64,"dim":32,"layers":1,"heads":4,"hidden":96,"seq_len":16,"causal":false,"rope_theta":10000,"norm_eps":1e-5}`),
		Tokenizer: []byte(`{"model":{}}`),
		State:     json.RawMessage(`{"step":7}`),
		Tensors: []checkpoint.Tensor{
			mat("tok_emb", V, D), mat("layers.0.attn_norm", D),
			mat("layers.0.wq", D, D), mat("layers.0.wk", D, D), mat("layers.0.wv", D, D), mat("layers.0.wo", D, D),
			mat("layers.0.mlp_norm", D), mat("layers.0.w1", F, D), mat("layers.0.w3", F, D), mat("layers.0.w2", D, F),
			mat("norm", D), mat("head", V, D), mat("adam.m.tok_emb", V, D),
		},
	}
	path := filepath.Join(dir, "in.ckpt")
	if err := checkpoint.Save(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestQuantizeQ4_0(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir)
	out := filepath.Join(dir, "out.ckpt")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-in", in, "-out", out, "-type", "q4_0"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	g, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]checkpoint.DType{"tok_emb": checkpoint.Q4_0, "layers.0.wq": checkpoint.Q4_0, "layers.0.w2": checkpoint.Q4_0,
		"layers.0.attn_norm": checkpoint.F32, "norm": checkpoint.F32, "head": checkpoint.Q8_0}
	for name, dt := range want {
		if tt := g.Tensor(name); tt == nil || tt.DType != dt {
			t.Errorf("%s: %v, want %s", name, tt, dt)
		}
	}
	if g.Tensor("adam.m.tok_emb") != nil || g.State != nil {
		t.Error("optimizer moment or training state kept without -all")
	}
	if g.Notes["quant.dtype"] != "q4_0" || !strings.Contains(g.Notes["quant.higher_precision"], "head=q8_0") || !strings.Contains(g.Notes["quant.policy"], "head q8_0") {
		t.Errorf("notes %v", g.Notes)
	}
	s := stdout.String()
	for _, w := range []string{"parameters", "f32 file", "output file", "bytes per parameter", "compression ratio", "higher precision    head q8_0, 3 vectors (norm gains) f32", "layers.0.w1"} {
		if !strings.Contains(s, w) {
			t.Errorf("table lacks %q:\n%s", w, s)
		}
	}
}

func TestKeepEmbeddingsAndAll(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir)
	out := filepath.Join(dir, "out.ckpt")
	if err := run([]string{"-in", in, "-out", out, "-type", "q8_0", "-keep-embeddings", "-all"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	g, err := checkpoint.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for name, dt := range map[string]checkpoint.DType{"tok_emb": checkpoint.F32, "head": checkpoint.F32, "layers.0.wk": checkpoint.Q8_0, "adam.m.tok_emb": checkpoint.F32} {
		if tt := g.Tensor(name); tt == nil || tt.DType != dt {
			t.Errorf("%s: %v, want %s", name, tt, dt)
		}
	}
	if string(g.State) != `{"step":7}` {
		t.Errorf("state %s", g.State)
	}
}

func TestHFRoundTrip(t *testing.T) {
	dir := t.TempDir()
	// The export checks the tokenizer against the vocabulary, so this one is real.
	in := clitest.Model(t, dir, "in.ckpt", false, clitest.Tokenizer(t, clitest.Text), 16)
	hf := filepath.Join(dir, "hf")
	var stdout bytes.Buffer
	if err := run([]string{"-in", in, "-export-hf", hf}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(hf, name)); err != nil || !strings.Contains(stdout.String(), name) {
			t.Errorf("%s: %v; stdout %q", name, err, stdout.String())
		}
	}
	back := filepath.Join(dir, "back.ckpt")
	if err := run([]string{"-import-hf", hf, "-out", back}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	a, _ := checkpoint.Load(in)
	b, err := checkpoint.Load(back)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range b.Tensors {
		ta := a.Tensor(tb.Name)
		for i := range ta.F32 {
			if ta.F32[i] != tb.F32[i] {
				t.Fatalf("%s[%d] changed", tb.Name, i)
			}
		}
	}
	if len(b.Tensors) != len(a.Tensors) || !bytes.Equal(b.Tokenizer, a.Tokenizer) {
		t.Errorf("%d tensors back, want %d; tokenizer %d bytes, want %d", len(b.Tensors), len(a.Tensors), len(b.Tokenizer), len(a.Tokenizer))
	}

	// A config.json without a field the model needs is refused (it once imported with
	// exit 0 into a checkpoint nothing could load); the message names the file once.
	cpath := filepath.Join(hf, "config.json")
	cj, _ := os.ReadFile(cpath)
	os.WriteFile(cpath, []byte(strings.Replace(string(cj), `"rms_norm_eps"`, `"rms_norm_epsilon"`, 1)), 0o644)
	err = run([]string{"-import-hf", hf, "-out", filepath.Join(dir, "bad.ckpt")}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.HasPrefix(err.Error(), cpath+`: required field "rms_norm_eps" is missing`) || strings.Count(err.Error(), hf) != 1 {
		t.Errorf("import without rms_norm_eps: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.ckpt")); !os.IsNotExist(err) {
		t.Errorf("a checkpoint was written: %v", err)
	}
}

// TestExportONNX exports a checkpoint and a q8_0 release file (dequantized on export);
// build/interop runs the graphs in onnxruntime.
func TestExportONNX(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir)
	q8 := filepath.Join(dir, "q8.ckpt")
	if err := run([]string{"-in", in, "-out", q8, "-type", "q8_0"}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{in, q8} {
		path := filepath.Join(dir, filepath.Base(src)+".onnx")
		var stdout bytes.Buffer
		if err := run([]string{"-in", src, "-export-onnx", path}, &stdout, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// Every weight at f32 (the q8_0 file's too), ir_version 8 as the model's first
		// field, the MASK note in metadata_props.
		const params = 2*64*32 + 4*32*32 + 3*96*32 + 3*32
		if len(data) < 4*params || !bytes.HasPrefix(data, []byte{0x08, 0x08}) || !bytes.Contains(data, []byte("mask_token_id")) {
			t.Errorf("%s: %d bytes, starts % x", path, len(data), data[:min(len(data), 8)])
		}
		for _, w := range []string{"wrote " + path, "opset 17", "masked model", "logits (batch, seq, 64)", "exclude token 63 (MASK)"} {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("output lacks %q: %s", w, stdout.String())
			}
		}
	}
	missing := filepath.Join(dir, "nope.ckpt")
	noDir := filepath.Join(dir, "no", "such", "dir", "m.onnx")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-in", missing, "-export-onnx", "x.onnx"}, missing + ": no such file or directory"},
		{[]string{"-in", in, "-export-onnx", noDir}, noDir + ": no such file or directory"},
		{[]string{"-in", in, "-out", "x", "-export-onnx", "x.onnx"}, "-export-onnx takes -in and nothing else"},
		{[]string{"-export-onnx", "x.onnx"}, "-export-onnx takes -in and nothing else"},
	} {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: error %q, want %q", c.args, err, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	in := writeModel(t, dir)
	data, _ := os.ReadFile(in)
	data[len(data)-3] ^= 0xff
	bad := filepath.Join(dir, "bad.ckpt")
	os.WriteFile(bad, data, 0o644)
	missing := filepath.Join(dir, "nope.ckpt")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-in", missing, "-out", "x", "-type", "q8_0"}, missing + ": no such file or directory"},
		{[]string{"-in", bad, "-out", "x", "-type", "q8_0"}, bad + ": hash mismatch: manifest says "},
		{[]string{"-in", in, "-out", "x", "-type", "q5_1"}, "-type: unknown dtype"},
		{[]string{"-in", in, "-type", "q8_0"}, "need -out"},
		{[]string{"-in", in, "-out", filepath.Join(dir, "no", "such", "dir", "x"), "-type", "q8_0"}, filepath.Join(dir, "no", "such", "dir")},
	}
	for _, c := range cases {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q, want one line starting %q", c.args, err, c.want)
		}
	}
}

// TestMainExitsOneLine runs the real binary: one line on stderr, exit 1.
func TestMainExitsOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool")
	}
	bin := filepath.Join(t.TempDir(), "quantize")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	missing := filepath.Join(t.TempDir(), "nope.ckpt")
	cmd := exec.Command(bin, "-in", missing, "-out", "x", "-type", "q8_0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	if got, want := stderr.String(), "quantize: "+missing+": no such file or directory\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}
