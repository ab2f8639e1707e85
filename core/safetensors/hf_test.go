package safetensors

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
)

// testModel is a small model file in our names, with an optimizer moment
// that the export must leave out.
func testModel(t *testing.T, causal bool) *checkpoint.File {
	t.Helper()
	cfg := modelConfig{Vocab: 64, Dim: 32, Layers: 2, Heads: 4, Hidden: 96, SeqLen: 16, Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
	cj, _ := json.Marshal(cfg)
	r := rand.New(rand.NewPCG(1, 2))
	f := &checkpoint.File{Config: cj, Tokenizer: []byte(`{"model":{"type":"BPE"}}`)}
	for _, s := range cfg.specs() {
		n := 1
		for _, d := range s.shape {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: s.name, Shape: s.shape, F32: x})
	}
	f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "adam.m.tok_emb", Shape: []int{64, 32}, F32: make([]float32, 64*32)})
	return f
}

func TestExportImportBitIdentical(t *testing.T) {
	for _, tc := range []struct{ causal, shift bool }{{false, false}, {true, false}, {false, true}} {
		causal := tc.causal
		f := testModel(t, causal)
		// An extra config field the HF keys do not carry must survive.
		extra := `{"dropout":0.1,`
		if tc.shift {
			extra += `"shift":true,`
		}
		f.Config = json.RawMessage(strings.Replace(string(f.Config), "{", extra, 1))
		dir := t.TempDir()
		if err := ExportHF(dir, f); err != nil {
			t.Fatal(err)
		}
		g, err := ImportHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		json.Unmarshal(f.Config, &a)
		json.Unmarshal(g.Config, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("config %s, imported %s", f.Config, g.Config)
		}
		if string(g.Tokenizer) != string(f.Tokenizer) {
			t.Errorf("tokenizer %q", g.Tokenizer)
		}
		want := f.Tensors[:len(f.Tensors)-1] // without the optimizer moment
		if len(g.Tensors) != len(want) {
			t.Fatalf("%d tensors imported, want %d", len(g.Tensors), len(want))
		}
		for i, w := range want {
			h := g.Tensors[i]
			if h.Name != w.Name || !slices.Equal(h.Shape, w.Shape) || h.DType != checkpoint.F32 {
				t.Fatalf("tensor %d: %s %v %s, want %s %v", i, h.Name, h.Shape, h.DType, w.Name, w.Shape)
			}
			for j := range w.F32 {
				if math.Float32bits(h.F32[j]) != math.Float32bits(w.F32[j]) {
					t.Fatalf("%s[%d] = %v, want %v", w.Name, j, h.F32[j], w.F32[j])
				}
			}
		}
		var hc map[string]any
		cj, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(cj, &hc)
		arch := hc["architectures"].([]any)[0]
		if (arch == ArchCausal) != causal || hc["causal"] != causal || hc["tie_word_embeddings"] != false ||
			hc["hidden_size"] != 32.0 || hc["intermediate_size"] != 96.0 || hc["num_hidden_layers"] != 2.0 ||
			hc["num_attention_heads"] != 4.0 || hc["vocab_size"] != 64.0 || hc["max_position_embeddings"] != 16.0 ||
			hc["rms_norm_eps"] != 1e-5 || hc["rope_theta"] != 10000.0 || hc["mask_token_id"] != 63.0 {
			t.Errorf("config.json: %s", cj)
		}
		// shift_logits: absent for a causal model, else whether the logits are shifted.
		if sl, ok := hc["shift_logits"]; ok == causal || (!causal && sl != tc.shift) {
			t.Errorf("shift %v: config.json's shift_logits %v (present %v)", tc.shift, sl, ok)
		}
		st, err := Load(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"model.embed_tokens.weight", "model.layers.1.self_attn.o_proj.weight", "model.layers.0.mlp.gate_proj.weight",
			"model.layers.0.post_attention_layernorm.weight", "model.norm.weight", "lm_head.weight"} {
			if st.Tensor(name) == nil {
				t.Errorf("model.safetensors lacks %s", name)
			}
		}
		if st.Metadata["format"] != "pt" {
			t.Errorf("metadata %v", st.Metadata)
		}
	}
}

func TestExportDequantizes(t *testing.T) {
	f, err := checkpoint.Quantize(testModel(t, false), checkpoint.Q8_0, nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ExportHF(dir, f); err != nil {
		t.Fatal(err)
	}
	g, err := ImportHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"layers.0.wq", "head", "norm"} {
		want, _ := f.Tensor(name).Float32()
		got := g.Tensor(name).F32
		for j := range want {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("%s[%d] = %v, dequantized %v", name, j, got[j], want[j])
			}
		}
	}
}

func TestExportErrors(t *testing.T) {
	f := testModel(t, false)
	f.Tensors = f.Tensors[1:] // no tok_emb
	if err := ExportHF(t.TempDir(), f); err == nil || !strings.Contains(err.Error(), "tok_emb") {
		t.Errorf("missing tensor: %v", err)
	}
	f = testModel(t, false)
	f.Tensors[1].Shape = []int{16, 2}
	if err := ExportHF(t.TempDir(), f); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("wrong shape: %v", err)
	}
	f.Config = json.RawMessage(`{"vocab":64}`)
	if err := ExportHF(t.TempDir(), f); err == nil {
		t.Error("incomplete config accepted")
	}
}

// TestImportStockLlama: a config.json without our extra keys (as
// transformers writes it) and tied embeddings.
func TestImportStockLlama(t *testing.T) {
	dir := t.TempDir()
	f := testModel(t, true)
	if err := ExportHF(dir, f); err != nil {
		t.Fatal(err)
	}
	cfg := `{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":64,"hidden_size":32,
		"intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":4,
		"max_position_embeddings":16,"rms_norm_eps":1e-06,"rope_theta":500000.0,"tie_word_embeddings":true}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	st, _ := Load(filepath.Join(dir, "model.safetensors"))
	st.Tensors = st.Tensors[:len(st.Tensors)-1] // drop lm_head
	st.Tensors = append(st.Tensors, Tensor{Name: "model.layers.0.self_attn.rotary_emb.inv_freq", Shape: []int{4}, Data: make([]float32, 4)})
	if err := Save(filepath.Join(dir, "model.safetensors"), st); err != nil {
		t.Fatal(err)
	}
	g, err := ImportHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	var c modelConfig
	json.Unmarshal(g.Config, &c)
	if !c.Causal || c.NormEps != 1e-6 || c.RopeTheta != 500000 {
		t.Errorf("config %+v", c)
	}
	if !reflect.DeepEqual(g.Tensor("head").F32, g.Tensor("tok_emb").F32) {
		t.Error("tied head is not the embedding")
	}
	// shift_logits in config.json alone (no textdiffusion_config) marks a masked model's
	// output as shifted; on a causal model it is refused.
	masked := strings.Replace(cfg, `"LlamaForCausalLM"],`, `"LlamaForMaskedDiffusion"],"causal":false,"shift_logits":true,`, 1)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(masked), 0o644)
	if g, err := ImportHF(dir); err != nil {
		t.Fatal(err)
	} else if c = (modelConfig{}); json.Unmarshal(g.Config, &c) != nil || c.Causal || !c.Shift {
		t.Errorf("shift_logits: config %s", g.Config)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(strings.Replace(masked, `"causal":false`, `"causal":true`, 1)), 0o644)
	if _, err := ImportHF(dir); err == nil || !strings.Contains(err.Error(), "shift_logits") {
		t.Errorf("causal with shift_logits: %v", err)
	}
	// Grouped-query attention is another architecture.
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(strings.Replace(cfg, `"num_key_value_heads":4`, `"num_key_value_heads":2`, 1)), 0o644)
	if _, err := ImportHF(dir); err == nil || !strings.Contains(err.Error(), "grouped-query") {
		t.Errorf("GQA: %v", err)
	}
	// An unknown tensor is refused.
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	st.Tensors = append(st.Tensors, Tensor{Name: "model.layers.0.self_attn.q_proj.bias", Shape: []int{32}, Data: make([]float32, 32)})
	Save(filepath.Join(dir, "model.safetensors"), st)
	if _, err := ImportHF(dir); err == nil || !strings.Contains(err.Error(), "q_proj.bias") {
		t.Errorf("bias tensor: %v", err)
	}
}
