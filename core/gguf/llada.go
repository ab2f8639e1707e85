package gguf

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/tokenizer"
)

// Arch is the llama.cpp architecture the masked model is written as. Its graph
// (src/models/llada.cpp) is ours exactly: token embedding, per block pre-RMSNorm,
// q/k/v/o projections without biases, RoPE on q and k, bidirectional attention
// scaled by 1/sqrt(head size), residual, pre-RMSNorm, SwiGLU (silu(gate)·up, then
// down), residual; final RMSNorm and an untied output matrix. "dream" is the
// other dense diffusion architecture with our shifted logits, but its graph adds
// q/k/v biases (Qwen2), which we do not have.
//
// Two things are adapted to llama.cpp's conventions:
//   - RoPE. llama.cpp gives llada its "normal" RoPE, which rotates pairs of
//     adjacent values (2j, 2j+1) of a head; ours is HF's rotate_half, which rotates
//     (j, j+hd/2) with the same frequency. Reordering the rows of wq and wk within
//     each head (new row 2j+k = old row k·hd/2+j, as convert_hf_to_gguf.py's LLaDA
//     permute) makes the two identical; q·k is unchanged because q and k get the
//     same order.
//   - The MASK logit. Our sampler never samples MASK (SUBS: its logit is -inf and
//     its head row is never trained), but llama-diffusion-cli samples over the
//     whole vocabulary. The head's MASK row is written as the mean of the other
//     rows, so its logit is the mean of the others' and, by Jensen's inequality,
//     p(MASK) < 1/(V-1) at any temperature and it is never the argmax (unless all
//     logits are equal). The other logits, and so the distribution over real
//     tokens up to that sliver of mass, are unchanged.
//
// Config.Shift (logits at i from the hidden state at i-1, as Dream's) is the
// diffusion.shift_logits key, which llama-diffusion-cli reads for any
// architecture.
const Arch = "llada"

// Metadata keys that llama.cpp reads for this architecture.
const (
	KeyArch        = "general.architecture"
	KeyShiftLogits = "diffusion.shift_logits"
	KeyMaskID      = "tokenizer.ggml.mask_token_id"
)

// passThroughTemplate is tokenizer.chat_template: llama-diffusion-cli always
// formats the prompt with a chat template, ChatML when the file has none, which
// would wrap the text in tokens this model has never seen. This model continues
// plain text, so the template writes the messages' text as it is.
const passThroughTemplate = "{% for message in messages %}{{ message['content'] }}{% endfor %}"

// ggml's llama_ftype values for general.file_type (the type most matrices have).
var fileTypes = map[checkpoint.DType]uint32{checkpoint.F32: 0, checkpoint.F16: 1, checkpoint.Q4_0: 2, checkpoint.Q8_0: 7}

var tensorTypes = map[checkpoint.DType]TensorType{checkpoint.F32: F32, checkpoint.F16: F16, checkpoint.Q8_0: Q8_0, checkpoint.Q4_0: Q4_0}

// FromCheckpoint returns the GGUF form of a masked diffusion model: the "llada"
// architecture's hyper-parameters, the byte-level BPE tokenizer with its special
// tokens, and every tensor in the dtype it has in f (so the caller chooses the
// quantization; a block dtype needs rows of whole blocks, as in f). name is
// general.name. A causal model, a missing tokenizer, or a tensor that is missing or
// misshapen is an error.
func FromCheckpoint(f *checkpoint.File, name string) (*File, error) {
	var cfg model.Config
	if err := json.Unmarshal(f.Config, &cfg); err != nil {
		return nil, fmt.Errorf("model config: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.OverTokens("GGUF"); err != nil {
		return nil, err
	}
	if cfg.Causal {
		return nil, fmt.Errorf("the model is causal; the GGUF export writes masked diffusion models (llama.cpp's %q)", Arch)
	}
	if len(f.Tokenizer) == 0 {
		return nil, fmt.Errorf("the checkpoint has no tokenizer; llama.cpp needs its vocabulary")
	}
	tok, err := tokenizer.Parse(f.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %v", err)
	}
	tokens, merges := tok.ByteLevel()
	if len(tokens) != cfg.Vocab {
		return nil, fmt.Errorf("tokenizer has %d tokens, the model's vocab is %d", len(tokens), cfg.Vocab)
	}
	types := make([]int32, len(tokens))
	for i := range types {
		types[i] = 1 // LLAMA_TOKEN_TYPE_NORMAL
	}
	eot, mask := uint32(cfg.EOTID()), uint32(cfg.MaskID())
	types[eot], types[mask] = 3, 3 // LLAMA_TOKEN_TYPE_CONTROL: parsed as specials, left out of decoded text

	out := &File{}
	var most checkpoint.DType // the dtype of wq in block 0, for general.file_type
	for _, s := range cfg.Specs() {
		t := f.Tensor(s.Name)
		if t == nil {
			return nil, fmt.Errorf("tensor %q missing", s.Name)
		}
		if !slices.Equal(t.Shape, s.Shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, config says %v", s.Name, t.Shape, s.Shape)
		}
		g, err := tensorFor(t, s.GGUF, cfg)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", s.Name, err)
		}
		if s.Name == "layers.0.wq" {
			most = t.DType
		}
		out.Tensors = append(out.Tensors, g)
	}

	a := func(k string) string { return Arch + "." + k }
	hd := uint32(cfg.Dim / cfg.Heads)
	out.KV = []KV{
		{KeyArch, Arch},
		{"general.name", name},
		{"general.file_type", fileTypes[most]},
		{AlignmentKey, uint32(DefaultAlignment)},
		{a("vocab_size"), uint32(cfg.Vocab)},
		{a("context_length"), uint32(cfg.SeqLen)},
		{a("embedding_length"), uint32(cfg.Dim)},
		{a("block_count"), uint32(cfg.Layers)},
		{a("feed_forward_length"), uint32(cfg.Hidden)},
		{a("attention.head_count"), uint32(cfg.Heads)},
		{a("attention.head_count_kv"), uint32(cfg.Heads)},
		{a("attention.layer_norm_rms_epsilon"), cfg.NormEps},
		{a("attention.causal"), false},
		{a("rope.dimension_count"), hd},
		{a("rope.freq_base"), float32(cfg.RopeTheta)},
		{KeyShiftLogits, cfg.Shift},
		{"tokenizer.ggml.model", "gpt2"},
		{"tokenizer.ggml.pre", "gpt-2"}, // core/tokenizer's pre-tokenizer is GPT-2's pattern
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.merges", merges},
		{"tokenizer.ggml.bos_token_id", eot}, // documents start after EOT in training; never added (add_bos_token false)
		{"tokenizer.ggml.eos_token_id", eot},
		{"tokenizer.ggml.eot_token_id", eot},
		{KeyMaskID, mask},
		{"tokenizer.ggml.add_bos_token", false},
		{"tokenizer.ggml.add_eos_token", false},
		{"tokenizer.chat_template", passThroughTemplate},
	}
	return out, nil
}

// tensorFor converts one tensor into the GGUF tensor name (model.Spec.GGUF): dims reversed into ggml order, the data as stored
// (no requantization), wq and wk rows reordered for llama.cpp's RoPE and the
// head's MASK row replaced (see Arch).
func tensorFor(t *checkpoint.Tensor, name string, cfg model.Config) (Tensor, error) {
	tt, ok := tensorTypes[t.DType]
	if !ok {
		return Tensor{}, fmt.Errorf("dtype %s has no GGUF type", t.DType)
	}
	g := Tensor{Name: name, Type: tt}
	for i := len(t.Shape) - 1; i >= 0; i-- {
		g.Dims = append(g.Dims, uint64(t.Shape[i]))
	}
	if t.Name == "head" {
		var err error
		if t, err = meanMaskRow(t, cfg); err != nil {
			return Tensor{}, err
		}
	}
	if t.DType == checkpoint.F32 {
		g.Data = make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(g.Data[4*i:], math.Float32bits(v))
		}
	} else {
		g.Data = t.Raw
	}
	if _, err := ByteSize(g.Type, g.Dims); err != nil {
		return Tensor{}, err
	}
	var part string
	var layer int
	if n, _ := fmt.Sscanf(t.Name, "layers.%d.%s", &layer, &part); n == 2 && (part == "wq" || part == "wk") {
		g.Data = ropeRows(g.Data, cfg.Dim, cfg.Heads)
	}
	return g, nil
}

// ropeRows returns data, a (D, ·) matrix of D rows of equal byte size, with each
// head's rows reordered from rotate_half's pairing (j, j+hd/2) to adjacent pairs
// (2j, 2j+1): new row h·hd+2j+k is old row h·hd+k·hd/2+j. Rows are moved whole, so
// quantized rows keep their blocks bit for bit.
func ropeRows(data []byte, rows, heads int) []byte {
	rb := len(data) / rows
	hd := rows / heads
	out := make([]byte, len(data))
	for h := 0; h < heads; h++ {
		for j := 0; j < hd/2; j++ {
			for k := 0; k < 2; k++ {
				dst, src := h*hd+2*j+k, h*hd+k*hd/2+j
				copy(out[dst*rb:(dst+1)*rb], data[src*rb:(src+1)*rb])
			}
		}
	}
	return out
}

// meanMaskRow returns the head with its MASK row (the last) set to the mean of the
// other rows, in the head's dtype: only that row is (re)quantized, so the other
// rows keep their exact bytes.
func meanMaskRow(t *checkpoint.Tensor, cfg model.Config) (*checkpoint.Tensor, error) {
	x, err := t.Float32()
	if err != nil {
		return nil, err
	}
	V, D := cfg.Vocab, cfg.Dim
	mean := make([]float64, D)
	for v := 0; v < V-1; v++ {
		for d, w := range x[v*D : (v+1)*D] {
			mean[d] += float64(w)
		}
	}
	row := make([]float32, D)
	for d := range mean {
		row[d] = float32(mean[d] / float64(V-1))
	}
	one := &checkpoint.File{Tensors: []checkpoint.Tensor{{Name: t.Name, Shape: []int{1, D}, F32: row}}}
	q, err := checkpoint.Convert(one, func(*checkpoint.Tensor) checkpoint.DType { return t.DType })
	if err != nil {
		return nil, err
	}
	u := &checkpoint.Tensor{Name: t.Name, Shape: t.Shape, DType: t.DType}
	if t.DType == checkpoint.F32 {
		u.F32 = append(slices.Clone(t.F32[:(V-1)*D]), row...)
	} else {
		rb := len(q.Tensors[0].Raw)
		u.Raw = append(slices.Clone(t.Raw[:len(t.Raw)-rb]), q.Tensors[0].Raw...)
	}
	return u, nil
}
