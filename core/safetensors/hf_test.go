package safetensors

import (
	"encoding/json"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// testTokenizer is a 300-id tokenizer.json (the smallest vocabularies are 258
// ids: the bytes and the two specials).
func testTokenizer(t *testing.T) []byte {
	t.Helper()
	text := `It is a truth universally acknowledged, that a single man in possession of a good
fortune, must be in want of a wife. However little known the feelings or views of such a man
may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the
surrounding families, that he is considered the rightful property of some one or other of
their daughters.`
	tok, err := tokenizer.Train([][]byte{[]byte(text)}, testVocab)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Marshal()
}

const testVocab = 300

// testModel is a small model file in our names, with an optimizer moment
// that the export must leave out.
func testModel(t *testing.T, causal bool) *checkpoint.File {
	t.Helper()
	cfg := modelConfig{Vocab: testVocab, Dim: 32, Layers: 2, Heads: 4, Hidden: 96, SeqLen: 16, Causal: causal, RopeTheta: 10000, NormEps: 1e-5}
	cj, _ := json.Marshal(cfg)
	r := rand.New(rand.NewPCG(1, 2))
	f := &checkpoint.File{Config: cj, Tokenizer: testTokenizer(t)}
	for _, s := range cfg.specs() {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: s.Name, Shape: s.Shape, F32: x})
	}
	f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: "adam.m.tok_emb", Shape: []int{testVocab, 32}, F32: make([]float32, testVocab*32)})
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
			hc["num_attention_heads"] != 4.0 || hc["vocab_size"] != 300.0 || hc["max_position_embeddings"] != 16.0 ||
			hc["rms_norm_eps"] != 1e-5 || hc["rope_theta"] != 10000.0 || hc["mask_token_id"] != 299.0 || hc["eos_token_id"] != 298.0 {
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
	cfg := `{"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":300,"hidden_size":32,
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

// readJSON reads dir/name as a JSON object.
func readJSON(t *testing.T, dir, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// writeJSON writes m as dir/name.
func writeJSON(t *testing.T, dir, name string, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExportSamplingAndTokenizerFiles: the tokenizer_config.json AutoTokenizer needs,
// and the untrained MASK logit recorded where samplers read it (masked models only).
func TestExportSamplingAndTokenizerFiles(t *testing.T) {
	for _, causal := range []bool{false, true} {
		dir := t.TempDir()
		if err := ExportHF(dir, testModel(t, causal)); err != nil {
			t.Fatal(err)
		}
		tc := readJSON(t, dir, "tokenizer_config.json")
		if tc["tokenizer_class"] != "PreTrainedTokenizerFast" || tc["eos_token"] != tokenizer.EOTText || tc["mask_token"] != tokenizer.MaskText ||
			tc["model_max_length"] != 16.0 || tc["clean_up_tokenization_spaces"] != false || tc["split_special_tokens"] != true {
			t.Errorf("tokenizer_config.json: %v", tc)
		}
		hc, gc := readJSON(t, dir, "config.json"), readJSON(t, dir, "generation_config.json")
		if gc["eos_token_id"] != 298.0 {
			t.Errorf("generation_config.json: %v", gc)
		}
		want := any(nil) // a causal model has no MASK to leave out
		if !causal {
			want = []any{299.0}
		}
		if !reflect.DeepEqual(hc["suppress_tokens"], want) || !reflect.DeepEqual(gc["suppress_tokens"], want) {
			t.Errorf("causal %v: suppress_tokens %v in config.json, %v in generation_config.json, want %v", causal, hc["suppress_tokens"], gc["suppress_tokens"], want)
		}
	}

	// Without a tokenizer there is nothing for tokenizer_config.json to describe.
	f := testModel(t, false)
	f.Tokenizer = nil
	dir := t.TempDir()
	if err := ExportHF(dir, f); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s written without a tokenizer: %v", name, err)
		}
	}
	// A tokenizer of another size than the model's vocabulary is refused.
	f = testModel(t, false)
	f.Config = json.RawMessage(strings.Replace(string(f.Config), `"vocab":300`, `"vocab":301`, 1))
	f.Tensors[0].Shape, f.Tensors[len(f.Tensors)-2].Shape = []int{301, 32}, []int{301, 32}
	f.Tensors[0].F32 = append(f.Tensors[0].F32, make([]float32, 32)...)
	f.Tensors[len(f.Tensors)-2].F32 = append(f.Tensors[len(f.Tensors)-2].F32, make([]float32, 32)...)
	if err := ExportHF(t.TempDir(), f); err == nil || !strings.Contains(err.Error(), "300 ids, the model 301") {
		t.Errorf("tokenizer of another size: %v", err)
	}
}

// TestImportRequiredFields: a config.json without one of the fields the model needs
// (or with it null) is refused, and the error names the folder, the file and the field.
func TestImportRequiredFields(t *testing.T) {
	dir := t.TempDir()
	if err := ExportHF(dir, testModel(t, false)); err != nil {
		t.Fatal(err)
	}
	full := readJSON(t, dir, "config.json")
	for _, key := range hfRequired {
		for _, null := range []bool{false, true} {
			c := maps.Clone(full)
			delete(c, key)
			if null {
				c[key] = nil
			}
			writeJSON(t, dir, "config.json", c)
			_, err := ImportHF(dir)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) || !strings.Contains(err.Error(), `"`+key+`"`) {
				t.Errorf("config.json without %s (null %v): %v", key, null, err)
			}
		}
	}

	// transformers 5 writes the RoPE base inside rope_parameters.
	c := maps.Clone(full)
	delete(c, "rope_theta")
	c["rope_parameters"] = map[string]any{"rope_theta": 500000.0, "rope_type": "default"}
	writeJSON(t, dir, "config.json", c)
	var mc modelConfig
	if g, err := ImportHF(dir); err != nil {
		t.Errorf("rope_parameters: %v", err)
	} else if json.Unmarshal(g.Config, &mc) != nil || mc.RopeTheta != 500000 {
		t.Errorf("rope_parameters: config %s", g.Config)
	}
	// RoPE scaling changes the model; a MASK id other than the last is another convention.
	for key, v := range map[string]any{
		"rope_scaling":    map[string]any{"type": "linear", "factor": 2.0},
		"rope_parameters": map[string]any{"rope_theta": 10000.0, "rope_type": "llama3"},
		"mask_token_id":   5.0,
	} {
		c := maps.Clone(full)
		c[key] = v
		writeJSON(t, dir, "config.json", c)
		if _, err := ImportHF(dir); err == nil {
			t.Errorf("%s = %v accepted", key, v)
		}
	}
	writeJSON(t, dir, "config.json", full)
	if _, err := ImportHF(dir); err != nil {
		t.Errorf("the full config.json: %v", err)
	}
}
