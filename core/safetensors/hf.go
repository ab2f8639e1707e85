package safetensors

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// modelConfig is the part of the model's config JSON that the HF export
// needs (core/model.Config's field names).
type modelConfig struct {
	Vocab     int     `json:"vocab"`
	Dim       int     `json:"dim"`
	Layers    int     `json:"layers"`
	Heads     int     `json:"heads"`
	Hidden    int     `json:"hidden"`
	SeqLen    int     `json:"seq_len"`
	Causal    bool    `json:"causal"`
	RopeTheta float64 `json:"rope_theta"`
	NormEps   float64 `json:"norm_eps"`
	Shift     bool    `json:"shift,omitempty"` // logits at i read the hidden state at i-1
}

// hfConfig is config.json in the LLaMA layout of transformers. The model is
// LLaMA without biases, with HF's rotate_half RoPE, so q and k need no
// permutation. A causal model is a plain LlamaForCausalLM; the masked
// diffusion model has no transformers class and says so in architectures.
//
// The masked model's MASK logit is never trained (SUBS: the model's own
// softmax leaves MASK out), so a sampler that reads the raw logits must drop
// it: on an all-MASK input it would otherwise give p(MASK) = 1.000 at every
// position. suppress_tokens = [mask_token_id] records that under the key
// that transformers' and transformers.js's GenerationConfig read as "never
// generate these ids" (also in generation_config.json, where generate()
// looks first).
type hfConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	VocabSize             int             `json:"vocab_size"`
	HiddenSize            int             `json:"hidden_size"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      int             `json:"num_key_value_heads"`
	HeadDim               int             `json:"head_dim"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	RMSNormEps            float64         `json:"rms_norm_eps"`
	RopeTheta             float64         `json:"rope_theta"`
	TieWordEmbeddings     bool            `json:"tie_word_embeddings"`
	HiddenAct             string          `json:"hidden_act"`
	AttentionBias         bool            `json:"attention_bias"`
	MLPBias               bool            `json:"mlp_bias"`
	TorchDType            string          `json:"torch_dtype"`
	Causal                *bool           `json:"causal"`                 // absent in a stock LLaMA config: causal
	ShiftLogits           *bool           `json:"shift_logits,omitempty"` // masked models: logits at i from the hidden state at i-1 (DiffuLLaMA, Dream)
	EOSTokenID            int             `json:"eos_token_id"`
	MaskTokenID           int             `json:"mask_token_id"`
	SuppressTokens        []int           `json:"suppress_tokens,omitempty"`      // masked models: [mask_token_id], never to be sampled
	Original              json.RawMessage `json:"textdiffusion_config,omitempty"` // our config, verbatim
}

// generationConfig is generation_config.json: the defaults transformers'
// and transformers.js's generate() start from.
type generationConfig struct {
	EOSTokenID     int   `json:"eos_token_id"`
	SuppressTokens []int `json:"suppress_tokens,omitempty"` // the untrained MASK logit (masked models)
}

// tokenizerConfig is tokenizer_config.json, which AutoTokenizer reads beside
// tokenizer.json (transformers.js refuses a folder without it). The class is
// the generic fast tokenizer: everything else comes from tokenizer.json.
type tokenizerConfig struct {
	TokenizerClass string `json:"tokenizer_class"`
	EOSToken       string `json:"eos_token"`  // <|endoftext|>, id vocab-2: between documents
	MaskToken      string `json:"mask_token"` // <|mask|>, id vocab-1: the absorbing state
	ModelMaxLength int    `json:"model_max_length"`
	// Decoding gives back the text exactly (no " ." -> "." clean-up), and the text of a
	// special token in the input is ordinary bytes, as the Go tokenizer encodes it
	// (transformers.js has no such switch: there it becomes the special id).
	CleanUpSpaces      bool `json:"clean_up_tokenization_spaces"`
	SplitSpecialTokens bool `json:"split_special_tokens"`
}

// Architecture names written to config.json.
const (
	ArchMasked = "LlamaForMaskedDiffusion"
	ArchCausal = "LlamaForCausalLM"
)

// specs lists the model's tensors in arena order, with their HF names (model.Specs, the
// one schema; modelConfig's fields are the shape's).
func (c *modelConfig) specs() []model.Spec {
	return model.Config{Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Hidden: c.Hidden}.Specs()
}

func (c *modelConfig) check() error {
	if c.Vocab < 3 || c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Hidden <= 0 || c.SeqLen <= 0 || c.Dim%c.Heads != 0 {
		return fmt.Errorf("model config %+v is not a valid model shape", *c)
	}
	if c.Vocab > 1<<20 || c.Dim > 1<<14 || c.Hidden > 1<<16 || c.Layers > 256 {
		return fmt.Errorf("model config %+v is beyond the supported sizes", *c)
	}
	return nil
}

// ExportHF writes dir/model.safetensors (float32, LLaMA tensor names),
// dir/config.json, dir/generation_config.json and, when f has a tokenizer,
// dir/tokenizer.json and dir/tokenizer_config.json. Quantized tensors
// are dequantized. Tensors that are not model weights (optimizer moments,
// anything not in the LLaMA mapping) are left out; a missing or misshapen
// model tensor is an error.
func ExportHF(dir string, f *checkpoint.File) error {
	var c modelConfig
	if err := json.Unmarshal(f.Config, &c); err != nil {
		return fmt.Errorf("export: model config: %v", err)
	}
	if err := c.check(); err != nil {
		return fmt.Errorf("export: %v", err)
	}
	var full model.Config
	if err := json.Unmarshal(f.Config, &full); err == nil {
		if err := full.OverTokens("Hugging Face"); err != nil {
			return fmt.Errorf("export: %v", err)
		}
	}
	st := &File{Metadata: map[string]string{"format": "pt"}}
	for _, s := range c.specs() {
		t := f.Tensor(s.Name)
		if t == nil {
			return fmt.Errorf("export: tensor %q missing", s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return fmt.Errorf("export: tensor %q has shape %v, config says %v", s.Name, t.Shape, s.Shape)
		}
		x, err := t.Float32()
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		st.Tensors = append(st.Tensors, Tensor{Name: s.HF, Shape: s.Shape, Data: x})
	}
	arch := ArchMasked
	if c.Causal {
		arch = ArchCausal
	}
	hc := hfConfig{
		Architectures: []string{arch}, ModelType: "llama",
		VocabSize: c.Vocab, HiddenSize: c.Dim, IntermediateSize: c.Hidden,
		NumHiddenLayers: c.Layers, NumAttentionHeads: c.Heads, NumKeyValueHeads: c.Heads,
		HeadDim: c.Dim / c.Heads, MaxPositionEmbeddings: c.SeqLen,
		RMSNormEps: c.NormEps, RopeTheta: c.RopeTheta, HiddenAct: "silu", TorchDType: "float32",
		Causal: &c.Causal, EOSTokenID: c.Vocab - 2, MaskTokenID: c.Vocab - 1,
		Original: f.Config,
	}
	gc := generationConfig{EOSTokenID: hc.EOSTokenID}
	if !c.Causal {
		hc.ShiftLogits = &c.Shift
		hc.SuppressTokens = []int{hc.MaskTokenID}
		gc.SuppressTokens = hc.SuppressTokens
	}
	files := []jsonFile{{"config.json", hc}, {"generation_config.json", gc}}
	if len(f.Tokenizer) > 0 {
		tok, err := tokenizer.Parse(f.Tokenizer)
		if err != nil {
			return fmt.Errorf("export: %v", err)
		}
		if tok.Vocab() != c.Vocab {
			return fmt.Errorf("export: the tokenizer has %d ids, the model %d", tok.Vocab(), c.Vocab)
		}
		files = append(files, jsonFile{"tokenizer_config.json", tokenizerConfig{TokenizerClass: "PreTrainedTokenizerFast",
			EOSToken: tokenizer.EOTText, MaskToken: tokenizer.MaskText, ModelMaxLength: c.SeqLen, SplitSpecialTokens: true}})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := Save(filepath.Join(dir, "model.safetensors"), st); err != nil {
		return err
	}
	if len(f.Tokenizer) > 0 {
		if err := writeFileAtomic(filepath.Join(dir, "tokenizer.json"), f.Tokenizer); err != nil {
			return err
		}
	}
	for _, jf := range files {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // "<|mask|>", not "\u003c|mask|\u003e"
		enc.SetIndent("", "  ")
		if err := enc.Encode(jf.v); err != nil {
			return fmt.Errorf("export: %s: %v", jf.name, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, jf.name), b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// jsonFile is one JSON file of the export: its name and what it holds.
type jsonFile struct {
	name string
	v    any
}

// ImportHF reads a folder written by ExportHF (or any LLaMA-layout folder of
// the same architecture: no biases, no grouped-query attention) back into a
// checkpoint with float32 tensors in the model's order. The config's
// HF keys win over the embedded original, whose other fields are kept.
func ImportHF(dir string) (*checkpoint.File, error) {
	cpath := filepath.Join(dir, "config.json")
	cj, err := os.ReadFile(cpath)
	if err != nil {
		return nil, err
	}
	var hc hfConfig
	if err := json.Unmarshal(cj, &hc); err != nil {
		return nil, fmt.Errorf("%s: %v", cpath, err)
	}
	if err := hc.checkKeys(cj); err != nil {
		return nil, fmt.Errorf("%s: %v", cpath, err)
	}
	if hc.NumKeyValueHeads != 0 && hc.NumKeyValueHeads != hc.NumAttentionHeads {
		return nil, fmt.Errorf("%s: grouped-query attention (%d key/value heads for %d heads) is not supported", cpath, hc.NumKeyValueHeads, hc.NumAttentionHeads)
	}
	if hc.ModelType != "" && hc.ModelType != "llama" {
		return nil, fmt.Errorf("%s: model_type %q is not llama", cpath, hc.ModelType)
	}
	if hc.AttentionBias || hc.MLPBias {
		return nil, fmt.Errorf("%s: biases are not supported", cpath)
	}
	if hc.HiddenAct != "" && hc.HiddenAct != "silu" {
		return nil, fmt.Errorf("%s: hidden_act %q is not supported (silu only)", cpath, hc.HiddenAct)
	}
	c := modelConfig{
		Vocab: hc.VocabSize, Dim: hc.HiddenSize, Layers: hc.NumHiddenLayers, Heads: hc.NumAttentionHeads,
		Hidden: hc.IntermediateSize, SeqLen: hc.MaxPositionEmbeddings, Causal: hc.Causal == nil || *hc.Causal,
		RopeTheta: hc.RopeTheta, NormEps: hc.RMSNormEps,
	}
	if hc.ShiftLogits != nil {
		c.Shift = *hc.ShiftLogits
	}
	if c.Causal && c.Shift {
		return nil, fmt.Errorf("%s: shift_logits is for masked models; this one is causal", cpath)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %v", cpath, err)
	}
	if hc.HeadDim != 0 && hc.HeadDim != c.Dim/c.Heads {
		return nil, fmt.Errorf("%s: head_dim %d != hidden_size/num_attention_heads", cpath, hc.HeadDim)
	}
	config, err := mergeConfig(hc.Original, &c, hc.ShiftLogits != nil)
	if err != nil {
		return nil, fmt.Errorf("%s: textdiffusion_config: %v", cpath, err)
	}
	st, err := Load(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	byHF := make(map[string]*Tensor, len(st.Tensors))
	for i := range st.Tensors {
		byHF[st.Tensors[i].Name] = &st.Tensors[i]
	}
	f := &checkpoint.File{Config: config}
	for _, s := range c.specs() {
		t := byHF[s.HF]
		if t == nil && s.Name == "head" && hc.TieWordEmbeddings {
			emb := f.Tensors[0] // tok_emb, the first spec
			f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: s.Name, Shape: s.Shape, F32: append([]float32(nil), emb.F32...)})
			continue
		}
		if t == nil {
			return nil, fmt.Errorf("%s: tensor %q missing", dir, s.HF)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("%s: tensor %q has shape %v, config says %v", dir, s.HF, t.Shape, s.Shape)
		}
		f.Tensors = append(f.Tensors, checkpoint.Tensor{Name: s.Name, Shape: s.Shape, F32: t.Data})
		delete(byHF, s.HF)
	}
	for name := range byHF {
		if !strings.HasSuffix(name, "rotary_emb.inv_freq") { // a buffer old exports include
			return nil, fmt.Errorf("%s: tensor %q is not part of this architecture", dir, name)
		}
	}
	tok, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err == nil {
		f.Tokenizer = tok
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return f, nil
}

// hfRequired are the config.json keys the model cannot be rebuilt without. A
// transformers default for a missing one (rope_theta 10000, rms_norm_eps 1e-6)
// could silently be another model than the one trained, so none is assumed.
var hfRequired = []string{"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
	"num_attention_heads", "max_position_embeddings", "rms_norm_eps", "rope_theta"}

// hfRope is transformers 5's rope_parameters (and the older rope_scaling):
// the RoPE base and any scaling of the positions.
type hfRope struct {
	Theta    *float64 `json:"rope_theta"`
	RopeType string   `json:"rope_type"`
	Type     string   `json:"type"` // rope_scaling's older spelling of rope_type
}

// checkKeys reports the first of hfRequired that cj (the raw config.json)
// lacks or holds as null, taking rope_theta from transformers 5's
// rope_parameters when the top-level key is absent (and setting hc's); it
// refuses what this model does not have: RoPE scaling, a masked model's MASK
// id other than the last.
func (hc *hfConfig) checkKeys(cj []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(cj, &raw); err != nil {
		return err
	}
	present := func(k string) bool { v, ok := raw[k]; return ok && string(v) != "null" }
	var params, scaling hfRope
	if present("rope_parameters") {
		if err := json.Unmarshal(raw["rope_parameters"], &params); err != nil {
			return fmt.Errorf("rope_parameters: %v", err)
		}
	}
	if present("rope_scaling") {
		if err := json.Unmarshal(raw["rope_scaling"], &scaling); err != nil {
			return fmt.Errorf("rope_scaling: %v", err)
		}
	}
	for _, r := range []hfRope{params, scaling} {
		if t := cmp.Or(r.RopeType, r.Type); t != "" && t != "default" {
			return fmt.Errorf("RoPE scaling %q is not supported (plain RoPE only)", t)
		}
	}
	fromParams := !present("rope_theta") && params.Theta != nil
	if fromParams {
		hc.RopeTheta = *params.Theta
	}
	for _, k := range hfRequired {
		if !present(k) && !(k == "rope_theta" && fromParams) {
			return fmt.Errorf("required field %q is missing (the model cannot be rebuilt without it)", k)
		}
	}
	if masked := hc.Causal != nil && !*hc.Causal; masked && present("mask_token_id") && hc.MaskTokenID != hc.VocabSize-1 {
		return fmt.Errorf("mask_token_id %d: a masked model's MASK is the last id, vocab_size-1 = %d", hc.MaskTokenID, hc.VocabSize-1)
	}
	return nil
}

// mergeConfig returns the original config JSON (if any) with the fields
// that config.json also carries set from c; shift among them when config.json
// has shift_logits (hasShift), else the original's stands.
func mergeConfig(orig json.RawMessage, c *modelConfig, hasShift bool) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(orig) > 0 {
		if err := json.Unmarshal(orig, &m); err != nil {
			return nil, err
		}
		if m == nil { // the JSON null
			m = map[string]json.RawMessage{}
		}
	}
	known, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var km map[string]json.RawMessage
	if err := json.Unmarshal(known, &km); err != nil {
		return nil, err
	}
	if hasShift && !c.Shift {
		delete(m, "shift") // omitted when false, as model.Config writes it
	}
	for k, v := range km {
		m[k] = v
	}
	return json.Marshal(m)
}
