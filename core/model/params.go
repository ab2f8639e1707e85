package model

import "fmt"

// Spec names one parameter tensor and its shape.
type Spec struct {
	Name  string
	Shape []int
}

// Size is the number of elements.
func (s Spec) Size() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// Specs lists every tensor in arena order, named like this:
// tok_emb, layers.{i}.{attn_norm,wq,wk,wv,wo,mlp_norm,w1,w3,w2}, norm, head.
func (c Config) Specs() []Spec {
	D, F, V := c.Dim, c.Hidden, c.Vocab
	s := []Spec{{"tok_emb", []int{V, D}}}
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		s = append(s,
			Spec{p + "attn_norm", []int{D}},
			Spec{p + "wq", []int{D, D}}, Spec{p + "wk", []int{D, D}},
			Spec{p + "wv", []int{D, D}}, Spec{p + "wo", []int{D, D}},
			Spec{p + "mlp_norm", []int{D}},
			Spec{p + "w1", []int{F, D}}, Spec{p + "w3", []int{F, D}}, Spec{p + "w2", []int{D, F}},
		)
	}
	return append(s, Spec{"norm", []int{D}}, Spec{"head", []int{V, D}})
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
	for i := range w.Layers {
		p := fmt.Sprintf("layers.%d.", i)
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
