package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/gguf"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/quant"
)

// ggufReport is what gguf.mjs prints.
type ggufReport struct {
	Metadata map[string]struct {
		Type    int             `json:"type"`
		SubType int             `json:"subType"`
		Value   json.RawMessage `json:"value"`
		Length  int             `json:"length"`
		First   json.RawMessage `json:"first"`
		Last    json.RawMessage `json:"last"`
	} `json:"metadata"`
	Tensors []struct {
		Name  string   `json:"name"`
		Shape []string `json:"shape"`
		DType int      `json:"dtype"`
	} `json:"tensors"`
	Values map[string][]float64 `json:"values"`
}

// TestGGUFForeignReader writes a small masked model's GGUF file (token embedding
// f32, other matrices Q8_0, vectors f32) and reads it with @huggingface/gguf: the
// metadata, the tokenizer arrays, every tensor's name, shape and type, and one f32
// and one Q8_0 tensor decoded in JavaScript must be what Go wrote, exactly.
func TestGGUFForeignReader(t *testing.T) {
	tok, err := os.ReadFile("../../weights/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Vocab: 4096, Dim: 64, Layers: 2, Heads: 4, Hidden: 96, SeqLen: 32, Shift: true, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	f, err := checkpoint.Convert(m.ToFile(tok), func(t *checkpoint.Tensor) checkpoint.DType {
		if len(t.Shape) < 2 || t.Name == "tok_emb" {
			return checkpoint.F32
		}
		return checkpoint.Q8_0
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.FromCheckpoint(f, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := gguf.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	const f32Name, q8Name = "token_embd.weight", "blk.1.ffn_down.weight"
	out := runNode(t, "gguf.mjs", path, f32Name, q8Name)
	var r ggufReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("gguf.mjs output: %v\n%.500s", err, out)
	}

	// Scalars: type and value as JSON.
	scalars := map[string]struct {
		typ  gguf.ValueType
		want string
	}{
		"general.architecture":                   {gguf.TypeString, `"llada"`},
		"general.alignment":                      {gguf.TypeUint32, `32`},
		"llada.context_length":                   {gguf.TypeUint32, `32`},
		"llada.embedding_length":                 {gguf.TypeUint32, `64`},
		"llada.block_count":                      {gguf.TypeUint32, `2`},
		"llada.feed_forward_length":              {gguf.TypeUint32, `96`},
		"llada.attention.head_count":             {gguf.TypeUint32, `4`},
		"llada.attention.head_count_kv":          {gguf.TypeUint32, `4`},
		"llada.attention.causal":                 {gguf.TypeBool, `false`},
		"llada.rope.dimension_count":             {gguf.TypeUint32, `16`},
		"llada.rope.freq_base":                   {gguf.TypeFloat32, `10000`},
		"llada.attention.layer_norm_rms_epsilon": {gguf.TypeFloat32, `1e-5`}, // compared as float32
		"llada.vocab_size":                       {gguf.TypeUint32, `4096`},
		"diffusion.shift_logits":                 {gguf.TypeBool, `true`},
		"tokenizer.ggml.model":                   {gguf.TypeString, `"gpt2"`},
		"tokenizer.ggml.pre":                     {gguf.TypeString, `"gpt-2"`},
		"tokenizer.ggml.mask_token_id":           {gguf.TypeUint32, `4095`},
		"tokenizer.ggml.eos_token_id":            {gguf.TypeUint32, `4094`},
	}
	for k, w := range scalars {
		e, ok := r.Metadata[k]
		same := string(e.Value) == w.want
		if w.typ == gguf.TypeFloat32 {
			var a, b float64
			same = json.Unmarshal(e.Value, &a) == nil && json.Unmarshal([]byte(w.want), &b) == nil && a == float64(float32(b))
		}
		if !ok || e.Type != int(w.typ) || !same {
			t.Errorf("%s: type %d value %s, want type %d value %s", k, e.Type, e.Value, w.typ, w.want)
		}
	}
	// Arrays: element type, length and ends.
	arrays := map[string]struct {
		sub         gguf.ValueType
		n           int
		first, last string
	}{
		"tokenizer.ggml.tokens":     {gguf.TypeString, 4096, `"Ā"`, `"<|mask|>"`},
		"tokenizer.ggml.token_type": {gguf.TypeInt32, 4096, `1`, `3`},
		"tokenizer.ggml.merges":     {gguf.TypeString, 3838, `"h e"`, ""},
	}
	for k, w := range arrays {
		e := r.Metadata[k]
		if e.Type != int(gguf.TypeArray) || e.SubType != int(w.sub) || e.Length != w.n || string(e.First) != w.first || (w.last != "" && string(e.Last) != w.last) {
			t.Errorf("%s: type %d sub %d length %d first %s last %s, want array of %d, %d long, %s..%s", k, e.Type, e.SubType, e.Length, e.First, e.Last, w.sub, w.n, w.first, w.last)
		}
	}

	// Every tensor: name, shape (ggml order: the contiguous dimension first) and type.
	if len(r.Tensors) != len(g.Tensors) {
		t.Fatalf("%d tensors read, %d written", len(r.Tensors), len(g.Tensors))
	}
	specs := cfg.Specs()
	for i, tt := range r.Tensors {
		s := specs[i]
		var shape []string
		for j := len(s.Shape) - 1; j >= 0; j-- {
			shape = append(shape, fmt.Sprint(s.Shape[j]))
		}
		wantType := gguf.Q8_0
		if len(s.Shape) < 2 || s.Name == "tok_emb" {
			wantType = gguf.F32
		}
		if tt.Name != g.Tensors[i].Name || !slices.Equal(tt.Shape, shape) || tt.DType != int(wantType) {
			t.Errorf("tensor %d: %s %v type %d, want %s %v type %d", i, tt.Name, tt.Shape, tt.DType, g.Tensors[i].Name, shape, wantType)
		}
	}

	// Values decoded in JavaScript against Go: the f32 embedding as stored, the Q8_0
	// matrix as core/quant dequantizes the source checkpoint's blocks.
	emb := f.Tensor("tok_emb").F32
	down := f.Tensor("layers.1.w2")
	q := make([]float32, down.Len())
	quant.DequantizeQ8_0(q, down.Raw)
	for name, want := range map[string][]float32{f32Name: emb, q8Name: q} {
		got := r.Values[name]
		if len(got) != len(want) {
			t.Fatalf("%s: %d values decoded, want %d", name, len(got), len(want))
		}
		for i := range want {
			if got[i] != float64(want[i]) {
				t.Fatalf("%s[%d] = %g in JavaScript, %g in Go", name, i, got[i], want[i])
			}
		}
	}
}
