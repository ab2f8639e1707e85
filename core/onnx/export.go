package onnx

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// Opset is the standard ONNX operator set the graph uses (default domain only, no
// contrib operators); IRVersion is the matching file-format version.
const (
	Opset     = 17
	IRVersion = 8
)

// maxProto is protobuf's 2 GiB message limit: a bigger model would need ONNX's external
// data files, which this writer does not produce.
const maxProto = math.MaxInt32

// Metadata keys written into the model's metadata_props.
const (
	MetaMaskTokenID  = "mask_token_id"
	MetaEOTTokenID   = "eot_token_id"
	MetaExcludeLogit = "sampling.exclude_token_ids"
	MetaSampling     = "sampling.note"
	MetaShift        = "shift_logits"
	MetaCausal       = "causal"
	MetaMaxSeqLen    = "max_seq_len"
	MetaConfig       = "textdiffusion.config"
)

// Write encodes m's forward pass as an ONNX model to w. The graph computes what
// model.Forward computes, in the same order of operations:
//
//	input_ids int64 (batch, seq), 1 <= seq <= Config.SeqLen
//	logits    f32   (batch, seq, vocab)
//
// Weights are f32 initializers named as in the checkpoint; a matrix W (out, in) is
// stored transposed, (in, out), so that MatMul applies it to rows directly. A causal
// (autoregressive) model gets its causal mask; a masked model attends everywhere.
func Write(w io.Writer, m *model.Model) error {
	c := m.Cfg
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.OverTokens("ONNX"); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	if 4*int64(c.NumParams()) > maxProto {
		return fmt.Errorf("onnx: %d parameters at f32 exceed protobuf's 2 GiB limit (external data is not supported)", c.NumParams())
	}
	g := build(m)
	gm := g.encode("textdiffusion", "textdiffusion forward pass: token ids in, logits out")
	if len(gm) > maxProto-(1<<20) {
		return fmt.Errorf("onnx: the graph is %d bytes, over protobuf's 2 GiB limit (external data is not supported)", len(gm))
	}
	var mp message
	mp.int(modelIRVersion, IRVersion)
	mp.string(modelProducerName, "textdiffusion")
	mp.string(modelProducerVer, "1")
	mp.string(modelDocString, samplingNote(c))
	mp.msg(modelGraph, gm)
	var op message
	op.string(opsetDomain, "")
	op.int(opsetVersion, Opset)
	mp.msg(modelOpsetImport, op)
	for _, kv := range metadata(c) {
		var e message
		e.string(entryKey, kv[0])
		e.string(entryValue, kv[1])
		mp.msg(modelMetadataProps, e)
	}
	_, err := w.Write(mp)
	return err
}

func samplingNote(c model.Config) string {
	if c.Causal {
		return fmt.Sprintf("Autoregressive model: the logits at position i predict token i+1. The MASK logit (token id %d) is unused by this model and must be excluded when sampling.", c.MaskID())
	}
	return fmt.Sprintf("Masked diffusion model (SUBS): the MASK logit (token id %d, the last of the vocabulary) is never trained and must be excluded (set to -inf) before softmax or sampling; on an all-MASK input it would otherwise take nearly all the probability. Input positions to be generated hold the mask token id %d.", c.MaskID(), c.MaskID())
}

func metadata(c model.Config) [][2]string {
	cfg, _ := json.Marshal(c)
	return [][2]string{
		{MetaMaskTokenID, strconv.Itoa(int(c.MaskID()))},
		{MetaEOTTokenID, strconv.Itoa(int(c.EOTID()))},
		{MetaExcludeLogit, strconv.Itoa(int(c.MaskID()))},
		{MetaSampling, samplingNote(c)},
		{MetaShift, strconv.FormatBool(c.Shift)},
		{MetaCausal, strconv.FormatBool(c.Causal)},
		{MetaMaxSeqLen, strconv.Itoa(c.SeqLen)},
		{MetaConfig, string(cfg)},
	}
}

// build lays out model.Forward as a graph. Shapes in comments: B batch, L sequence,
// D width, H heads, hd = D/H, F hidden, V vocabulary, S = Config.SeqLen.
func build(m *model.Model) *graph {
	c := m.Cfg
	D, F, H, V := int64(c.Dim), int64(c.Hidden), int64(c.Heads), int64(c.Vocab)
	hd := D / H
	g := &graph{
		inputs:  []value{{name: "input_ids", elem: dtInt64, dims: []dim{{param: "batch"}, {param: "seq"}}}},
		outputs: []value{{name: "logits", elem: dtFloat, dims: []dim{{param: "batch"}, {param: "seq"}, {size: V}}}},
	}
	zero, one, two := g.ints("const.0", 0), g.ints("const.1", 1), g.ints("const.2", 2)
	last := g.ints("const.-1", -1)

	// L, the sequence length of this call, as a 1-element tensor; the RoPE tables (and
	// the causal mask) are cut to it.
	shape := g.add("input_shape", "Shape", []string{"input_ids"})
	seq := g.add("seq_len", "Slice", []string{shape, one, two, zero})
	cos, sin := ropeTables(c)
	cosL := g.add("rope.cos.L", "Slice", []string{g.weight("rope.cos", cos, int64(c.SeqLen), 1, hd), zero, seq, zero}) // (L,1,hd)
	sinL := g.add("rope.sin.L", "Slice", []string{g.weight("rope.sin", sin, int64(c.SeqLen), 1, hd), zero, seq, zero}) // (L,1,hd)
	var maskL string
	if c.Causal {
		seq2 := g.add("seq_len.2", "Concat", []string{seq, seq}, intAttr("axis", 0))
		maskL = g.add("causal_mask.L", "Slice", []string{g.weight("causal_mask", causalMask(c.SeqLen), int64(c.SeqLen), int64(c.SeqLen)),
			g.ints("const.0.0", 0, 0), seq2, g.ints("const.0.1", 0, 1)}) // (L,L)
	}
	scale := g.weight("attn.scale", []float32{float32(1 / math.Sqrt(float64(hd)))})
	eps := g.weight("norm_eps", []float32{c.NormEps})
	headsShape := g.ints("shape.heads", 0, 0, H, hd) // Reshape's 0 keeps B and L
	rowsShape := g.ints("shape.rows", 0, 0, D)
	half := g.ints("const.half", hd/2)
	full := g.ints("const.hd", hd)

	// rmsnorm is x / sqrt(mean(x^2) + eps) * w over the last axis, as nn.RMSNorm.
	rmsnorm := func(p, x, w string) string {
		sq := g.add(p+".sq", "Mul", []string{x, x})
		ms := g.add(p+".mean", "ReduceMean", []string{sq}, intsAttr("axes", -1), intAttr("keepdims", 1))
		rs := g.add(p+".rstd", "Reciprocal", []string{g.add(p+".sqrt", "Sqrt", []string{g.add(p+".var", "Add", []string{ms, eps})})})
		return g.add(p, "Mul", []string{g.add(p+".xhat", "Mul", []string{x, rs}), w})
	}
	// linear is x W^T with W (out, in) stored as its transpose.
	linear := func(p, x, name string, out, in int64) string {
		return g.add(p, "MatMul", []string{x, g.weight(name, transpose(m.W.ByName[name], int(out), int(in)), in, out)})
	}
	// rope rotates (B,L,H,hd) as nn.RoPE: element i pairs with i+hd/2,
	// (a, b) -> (a cos - b sin, b cos + a sin), written as x*cos + [b, a]*[-sin, sin].
	rope := func(p, x string) string {
		lo := g.add(p+".lo", "Slice", []string{x, zero, half, last})
		hi := g.add(p+".hi", "Slice", []string{x, half, full, last})
		swapped := g.add(p+".swap", "Concat", []string{hi, lo}, intAttr("axis", -1))
		return g.add(p, "Add", []string{g.add(p+".c", "Mul", []string{x, cosL}), g.add(p+".s", "Mul", []string{swapped, sinL})})
	}

	x := g.add("tok_emb.out", "Gather", []string{g.weight("tok_emb", m.W.TokEmb, V, D), "input_ids"}, intAttr("axis", 0)) // (B,L,D)
	for i := range c.Layers {
		p := fmt.Sprintf("layers.%d.", i)
		h1 := rmsnorm(p+"attn_norm.out", x, g.weight(p+"attn_norm", m.W.ByName[p+"attn_norm"], D))
		heads := func(name string) string { // (B,L,H,hd)
			return g.add(p+name+".heads", "Reshape", []string{linear(p+name+".out", h1, p+name, D, D), headsShape})
		}
		q := g.add(p+"q", "Transpose", []string{rope(p+"q.rope", heads("wq"))}, intsAttr("perm", 0, 2, 1, 3))   // (B,H,L,hd)
		kT := g.add(p+"kT", "Transpose", []string{rope(p+"k.rope", heads("wk"))}, intsAttr("perm", 0, 2, 3, 1)) // (B,H,hd,L)
		v := g.add(p+"v", "Transpose", []string{heads("wv")}, intsAttr("perm", 0, 2, 1, 3))                     // (B,H,L,hd)
		s := g.add(p+"scores", "Mul", []string{g.add(p+"qk", "MatMul", []string{q, kT}), scale})                // (B,H,L,L)
		if c.Causal {
			s = g.add(p+"scores.masked", "Add", []string{s, maskL})
		}
		probs := g.add(p+"probs", "Softmax", []string{s}, intAttr("axis", -1))
		ao := g.add(p+"attn.heads", "Transpose", []string{g.add(p+"attn", "MatMul", []string{probs, v})}, intsAttr("perm", 0, 2, 1, 3))
		ao = g.add(p+"attn.rows", "Reshape", []string{ao, rowsShape}) // (B,L,D)
		x = g.add(p+"xmid", "Add", []string{x, linear(p+"wo.out", ao, p+"wo", D, D)})

		h2 := rmsnorm(p+"mlp_norm.out", x, g.weight(p+"mlp_norm", m.W.ByName[p+"mlp_norm"], D))
		gate := linear(p+"w1.out", h2, p+"w1", F, D) // (B,L,F)
		up := linear(p+"w3.out", h2, p+"w3", F, D)
		silu := g.add(p+"silu", "Mul", []string{gate, g.add(p+"sigmoid", "Sigmoid", []string{gate})})
		act := g.add(p+"swiglu", "Mul", []string{silu, up})
		x = g.add(p+"out", "Add", []string{x, linear(p+"w2.out", act, p+"w2", D, F)})
	}
	h := rmsnorm("norm.out", x, g.weight("norm", m.W.Norm, D))
	if c.Shift {
		// model.ShiftRows: row i reads row i-1, row 0 keeps its own.
		first := g.add("shift.first", "Slice", []string{h, zero, one, one})
		prev := g.add("shift.prev", "Slice", []string{h, zero, last, one})
		h = g.add("shift.out", "Concat", []string{first, prev}, intAttr("axis", 1))
	}
	linear("logits", h, "head", V, D)
	return g
}

// ropeTables returns cos and the signed sin of nn.NewRopeTable's angles, each (S, 1, hd):
// cos repeated over both halves, sin negated on the first half, the layout rope needs.
func ropeTables(c model.Config) (cos, sin []float32) {
	hd := c.Dim / c.Heads
	half := hd / 2
	t := nn.NewRopeTable(c.SeqLen, hd, c.RopeTheta)
	cos, sin = make([]float32, c.SeqLen*hd), make([]float32, c.SeqLen*hd)
	for p := range c.SeqLen {
		for i := range half {
			cs, sn := t.Cos[p*half+i], t.Sin[p*half+i]
			cos[p*hd+i], cos[p*hd+half+i] = cs, cs
			sin[p*hd+i], sin[p*hd+half+i] = -sn, sn
		}
	}
	return cos, sin
}

// causalMask is (S, S): 0 where the key position is at or before the query's, -inf
// after it, so softmax gives those keys exactly 0 as nn.Attention's causal rows do.
func causalMask(S int) []float32 {
	m := make([]float32, S*S)
	for r := range S {
		for k := r + 1; k < S; k++ {
			m[r*S+k] = float32(math.Inf(-1))
		}
	}
	return m
}

// transpose returns w (rows, cols) as (cols, rows).
func transpose(w []float32, rows, cols int) []float32 {
	t := make([]float32, len(w))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = w[r*cols+c]
		}
	}
	return t
}
