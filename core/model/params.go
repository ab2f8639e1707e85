package model

import (
	"fmt"
	"strconv"
)

// Spec names one parameter tensor, its shape, and its names in the other formats the
// project writes. Specs is the one tensor schema: the parameter arena, the checkpoint
// reader and writer, the Hugging Face export and import, the GGUF export and the WebGPU
// loader all walk it, so a new tensor is added here once.
type Spec struct {
	Name  string // ours, as in checkpoints: tok_emb, layers.{i}.wq, ..., norm, head
	Shape []int  // row-major; a matrix is (out, in), as a Linear reads it
	HF    string // Hugging Face LLaMA's: model.layers.{i}.self_attn.q_proj.weight, ...
	GGUF  string // llama.cpp's: blk.{i}.attn_q.weight, ... (dims reversed in the file)
}

// Size is the number of elements.
func (s Spec) Size() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// blockTensors are the tensors of one Transformer block, in arena order: our name, the
// Hugging Face name and the llama.cpp name, each after the block's prefix.
var blockTensors = []struct{ name, hf, gguf string }{
	{"attn_norm", "input_layernorm", "attn_norm"},
	{"wq", "self_attn.q_proj", "attn_q"},
	{"wk", "self_attn.k_proj", "attn_k"},
	{"wv", "self_attn.v_proj", "attn_v"},
	{"wo", "self_attn.o_proj", "attn_output"},
	{"mlp_norm", "post_attention_layernorm", "ffn_norm"},
	{"w1", "mlp.gate_proj", "ffn_gate"},
	{"w3", "mlp.up_proj", "ffn_up"},
	{"w2", "mlp.down_proj", "ffn_down"},
}

// Specs lists every tensor in arena order:
// tok_emb, layers.{i}.{attn_norm,wq,wk,wv,wo,mlp_norm,w1,w3,w2}, norm, head.
func (c Config) Specs() []Spec {
	D, F, V := c.Dim, c.Hidden, c.Vocab
	shape := map[string][]int{
		"attn_norm": {D}, "wq": {D, D}, "wk": {D, D}, "wv": {D, D}, "wo": {D, D},
		"mlp_norm": {D}, "w1": {F, D}, "w3": {F, D}, "w2": {D, F},
	}
	var s []Spec
	if c.Latent == 0 {
		s = append(s, Spec{"tok_emb", []int{V, D}, "model.embed_tokens.weight", "token_embd.weight"})
	} else {
		// A latent network's tensors have no counterpart in LLaMA's or llama.cpp's
		// layouts: the exporters refuse it.
		s = append(s, Spec{Name: "in_proj", Shape: []int{D, c.inWidth()}})
		if c.Denoiser {
			s = append(s, Spec{Name: "time_w1", Shape: []int{D, D}}, Spec{Name: "time_b1", Shape: []int{D}},
				Spec{Name: "time_w2", Shape: []int{D, D}}, Spec{Name: "time_b2", Shape: []int{D}})
		}
	}
	for i := 0; i < c.Layers; i++ {
		// Concatenation, not fmt: the page's first visit runs this from the browser's
		// baseline compiler, and fmt made itself hot enough to be compiled again.
		n := strconv.Itoa(i)
		for _, t := range blockTensors {
			s = append(s, Spec{
				Name:  "layers." + n + "." + t.name,
				Shape: shape[t.name],
				HF:    "model.layers." + n + "." + t.hf + ".weight",
				GGUF:  "blk." + n + "." + t.gguf + ".weight",
			})
		}
	}
	s = append(s, Spec{"norm", []int{D}, "model.norm.weight", "output_norm.weight"})
	if c.Denoiser {
		return append(s, Spec{Name: "out_proj", Shape: []int{c.Latent, D}}, Spec{Name: "out_bias", Shape: []int{c.Latent}})
	}
	return append(s, Spec{"head", []int{V, D}, "lm_head.weight", "output.weight"})
}

// inWidth is a latent network's input width: the latent, and with self-conditioning the
// previous estimate beside it.
func (c Config) inWidth() int {
	if c.SelfCond {
		return 2 * c.Latent
	}
	return c.Latent
}

// latentTensors are the names only latent networks have; biases among them start at 0.
var latentTensors = map[string]bool{"in_proj": false, "time_w1": false, "time_b1": true, "time_w2": false, "time_b2": true, "out_proj": false, "out_bias": true}

// Prefixes of the networks a continuous model file carries beside its denoiser (see
// core/continuous): their tensors are model tensors too.
var filePrefixes = []string{"encoder.", "decoder."}

// IsParam reports whether name is the name of a model tensor (of Specs, for some number
// of layers), as opposed to training state that a checkpoint may also hold.
func IsParam(name string) bool {
	for _, p := range filePrefixes {
		if len(name) > len(p) && name[:len(p)] == p {
			name = name[len(p):]
			break
		}
	}
	if _, ok := latentTensors[name]; ok {
		return true
	}
	switch name {
	case "tok_emb", "norm", "head":
		return true
	}
	var i int
	var part string
	if n, _ := fmt.Sscanf(name, "layers.%d.%s", &i, &part); n != 2 || i < 0 || name != fmt.Sprintf("layers.%d.%s", i, part) {
		return false
	}
	for _, t := range blockTensors {
		if t.name == part {
			return true
		}
	}
	return false
}

// Layer holds one block's tensors as views into an arena.
type Layer struct {
	AttnNorm, Wq, Wk, Wv, Wo []float32 // (D), (D,D) x4
	MLPNorm, W1, W3, W2      []float32 // (D), (F,D), (F,D), (D,F)

	// Wq, Wk, Wv and W1, W3 sit side by side in the arena; these views join them into one
	// (3D, D) and one (2F, D) matrix, so each runs as one product, larger and so faster
	// than three or two.
	Wqkv, W13 []float32
}

// Weights is a set of named views into one flat arena; the parameters and the gradients
// use the same layout, so the optimizer is a single loop over the arena.
type Weights struct {
	TokEmb []float32 // (V,D)
	Layers []Layer
	Norm   []float32 // (D)
	Head   []float32 // (V,D)
	ByName map[string][]float32

	// A latent network's (Config.Latent), nil otherwise: InProj (D, In) in place of
	// TokEmb; a denoiser's time MLP (D,D), (D), (D,D), (D) and OutProj (Latent, D),
	// OutBias (Latent) in place of Head.
	InProj, TimeW1, TimeB1, TimeW2, TimeB2, OutProj, OutBias []float32
}

// view cuts arena into the tensors of Specs, in order.
func (c Config) view(arena []float32) Weights {
	w := Weights{ByName: map[string][]float32{}, Layers: make([]Layer, c.Layers)}
	off := 0
	at := map[string]int{} // where each tensor starts
	for _, s := range c.Specs() {
		n := s.Size()
		w.ByName[s.Name] = arena[off : off+n : off+n]
		at[s.Name] = off
		off += n
	}
	w.TokEmb, w.Norm, w.Head = w.ByName["tok_emb"], w.ByName["norm"], w.ByName["head"]
	b := w.ByName
	w.InProj, w.TimeW1, w.TimeB1, w.TimeW2, w.TimeB2, w.OutProj, w.OutBias = b["in_proj"], b["time_w1"], b["time_b1"], b["time_w2"], b["time_b2"], b["out_proj"], b["out_bias"]
	for i := range w.Layers {
		p := "layers." + strconv.Itoa(i) + "."
		b := w.ByName
		w.Layers[i] = Layer{b[p+"attn_norm"], b[p+"wq"], b[p+"wk"], b[p+"wv"], b[p+"wo"], b[p+"mlp_norm"], b[p+"w1"], b[p+"w3"], b[p+"w2"], nil, nil}
		q, g, DD, FD := at[p+"wq"], at[p+"w1"], c.Dim*c.Dim, c.Hidden*c.Dim
		if at[p+"wk"] != q+DD || at[p+"wv"] != q+2*DD || at[p+"w3"] != g+FD {
			panic("model: Specs no longer keep wq, wk, wv and w1, w3 together")
		}
		w.Layers[i].Wqkv, w.Layers[i].W13 = arena[q:q+3*DD:q+3*DD], arena[g:g+2*FD:g+2*FD]
	}
	return w
}
