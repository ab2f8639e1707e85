package gguf

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// tiny is a small masked model with the real tokenizer (vocab 4096).
func tiny(t *testing.T, shift bool) (*checkpoint.File, model.Config) {
	t.Helper()
	tok, err := os.ReadFile("../../weights/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := model.Config{Vocab: 4096, Dim: 64, Layers: 2, Heads: 4, Hidden: 96, SeqLen: 32, Shift: shift, RopeTheta: 10000, NormEps: 1e-5}
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m.ToFile(tok), cfg
}

func f32s(b []byte) []float32 {
	x := make([]float32, len(b)/4)
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return x
}

func TestFromCheckpoint(t *testing.T) {
	f, cfg := tiny(t, true)
	g, err := FromCheckpoint(f, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, g); err != nil {
		t.Fatal(err)
	}
	if g, err = Parse(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"general.architecture": "llada", "llada.block_count": uint32(2), "llada.embedding_length": uint32(64),
		"llada.feed_forward_length": uint32(96), "llada.attention.head_count": uint32(4), "llada.rope.dimension_count": uint32(16),
		"llada.context_length": uint32(32), "llada.rope.freq_base": float32(10000), "llada.attention.layer_norm_rms_epsilon": float32(1e-5),
		"diffusion.shift_logits": true, "tokenizer.ggml.mask_token_id": uint32(4095), "tokenizer.ggml.eos_token_id": uint32(4094),
		"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "general.file_type": uint32(0),
	}
	for k, v := range want {
		if got := g.Get(k); got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	tokens := g.Get("tokenizer.ggml.tokens").([]string)
	types := g.Get("tokenizer.ggml.token_type").([]int32)
	merges := g.Get("tokenizer.ggml.merges").([]string)
	if len(tokens) != 4096 || len(types) != 4096 || len(merges) == 0 || tokens[4095] != "<|mask|>" || types[4095] != 3 || types[100] != 1 {
		t.Errorf("tokenizer: %d tokens, %d types, %d merges, mask %q type %d", len(tokens), len(types), len(merges), tokens[4095], types[4095])
	}
	if !strings.Contains(merges[0], " ") {
		t.Errorf("merge %q is not \"a b\"", merges[0])
	}

	names := []string{"token_embd.weight"}
	for i := range 2 {
		for _, p := range []string{"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"} {
			names = append(names, "blk."+string(rune('0'+i))+"."+p+".weight")
		}
	}
	names = append(names, "output_norm.weight", "output.weight")
	specs := cfg.Specs()
	for i, tt := range g.Tensors {
		s := specs[i]
		if tt.Name != names[i] || tt.Type != F32 {
			t.Fatalf("tensor %d is %s %s, want %s F32", i, tt.Name, tt.Type, names[i])
		}
		dims := make([]uint64, len(s.Shape))
		for j, d := range s.Shape {
			dims[len(dims)-1-j] = uint64(d)
		}
		if !slices.Equal(tt.Dims, dims) {
			t.Fatalf("%s dims %v, want %v (reversed %v)", tt.Name, tt.Dims, dims, s.Shape)
		}
		x, src := f32s(tt.Data), f.Tensor(s.Name).F32
		switch {
		case strings.HasSuffix(s.Name, ".wq") || strings.HasSuffix(s.Name, ".wk"):
			// Row 2j+k of head h is the source's row k*hd/2+j: adjacent pairs.
			hd, D := 16, 64
			for h := range 4 {
				for j := range hd / 2 {
					for k := range 2 {
						dst, from := h*hd+2*j+k, h*hd+k*hd/2+j
						if !slices.Equal(x[dst*D:(dst+1)*D], src[from*D:(from+1)*D]) {
							t.Fatalf("%s row %d is not source row %d", s.Name, dst, from)
						}
					}
				}
			}
		case s.Name == "head":
			D := 64
			if !slices.Equal(x[:4095*D], src[:4095*D]) {
				t.Fatal("head rows other than MASK changed")
			}
			for d := range D {
				var m float64
				for v := range 4095 {
					m += float64(src[v*D+d])
				}
				if got := x[4095*D+d]; math.Abs(float64(got)-m/4095) > 1e-7 {
					t.Fatalf("MASK row[%d] = %g, want the mean %g", d, got, m/4095)
				}
			}
		default:
			if !slices.Equal(x, src) {
				t.Fatalf("%s data differs from %s", tt.Name, s.Name)
			}
		}
	}
}

// TestFromCheckpointQuantized: blocked tensors keep their bytes (wq reordered by
// whole rows) and the file type follows the matrices.
func TestFromCheckpointQuantized(t *testing.T) {
	f, _ := tiny(t, false)
	q, err := checkpoint.Convert(f, func(t *checkpoint.Tensor) checkpoint.DType {
		if len(t.Shape) < 2 {
			return checkpoint.F32
		}
		return checkpoint.Q4_0
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromCheckpoint(q, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if g.Get("general.file_type") != uint32(2) || g.Get("diffusion.shift_logits") != false {
		t.Fatalf("file_type %v shift %v", g.Get("general.file_type"), g.Get("diffusion.shift_logits"))
	}
	for _, tt := range g.Tensors {
		switch tt.Name {
		case "blk.0.attn_v.weight":
			if tt.Type != Q4_0 || !bytes.Equal(tt.Data, q.Tensor("layers.0.wv").Raw) {
				t.Fatalf("%s: %s, bytes differ", tt.Name, tt.Type)
			}
		case "blk.0.attn_q.weight":
			rb := 64 / 32 * 18
			if !bytes.Equal(tt.Data[rb:2*rb], q.Tensor("layers.0.wq").Raw[8*rb:9*rb]) {
				t.Fatal("wq row 1 is not source row hd/2 = 8")
			}
		case "output.weight":
			raw := q.Tensor("head").Raw
			if !bytes.Equal(tt.Data[:len(raw)-36], raw[:len(raw)-36]) || bytes.Equal(tt.Data[len(raw)-36:], raw[len(raw)-36:]) {
				t.Fatal("head: only the MASK row's blocks should change")
			}
		}
	}
}

func TestFromCheckpointErrors(t *testing.T) {
	f, _ := tiny(t, false)
	cases := map[string]func(f *checkpoint.File){
		"causal": func(f *checkpoint.File) {
			f.Config = []byte(strings.Replace(string(f.Config), `"causal":false`, `"causal":true`, 1))
		},
		"no tokenizer": func(f *checkpoint.File) { f.Tokenizer = nil },
		"missing":      func(f *checkpoint.File) { f.Tensors = f.Tensors[:3] },
		"shape":        func(f *checkpoint.File) { f.Tensors[1].Shape = []int{32, 2} },
		"vocab": func(f *checkpoint.File) {
			f.Config = []byte(strings.Replace(string(f.Config), `"vocab":4096`, `"vocab":4000`, 1))
		},
		"config": func(f *checkpoint.File) { f.Config = []byte(`{`) },
	}
	for name, breakIt := range cases {
		g := *f
		g.Tensors = slices.Clone(f.Tensors)
		breakIt(&g)
		if _, err := FromCheckpoint(&g, "x"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
