package model

import (
	"errors"
	"fmt"
)

// Config is the network's shape. The defaults are the demo model: small enough that a
// CPU-only browser still runs a forward pass in about a second, big enough to write
// Austen-like sentences.
type Config struct {
	Vocab     int     `json:"vocab"`           // tokenizer size incl. EOT (V-2) and MASK (V-1)
	Dim       int     `json:"dim"`             // model width D
	Layers    int     `json:"layers"`          // Transformer blocks
	Heads     int     `json:"heads"`           // attention heads; head size D/Heads must be even
	Hidden    int     `json:"hidden"`          // SwiGLU width F (~3x D, like LLaMA's 8/3 D rounded)
	SeqLen    int     `json:"seq_len"`         // longest sequence (RoPE table size)
	Causal    bool    `json:"causal"`          // true: autoregressive baseline (causal mask)
	Shift     bool    `json:"shift,omitempty"` // masked model adapted from an AR: position i's logits come from hidden state i-1 (position 0 from its own), as in DiffuLLaMA and Dream
	RopeTheta float64 `json:"rope_theta"`      // RoPE base, 10000 as in LLaMA
	NormEps   float32 `json:"norm_eps"`        // RMSNorm epsilon

	// The continuous paradigm's networks (core/continuous) read latent vectors, an
	// encoder's normalised hidden states, instead of token ids.
	Latent   int  `json:"latent,omitempty"`    // >0: inputs are vectors of this width, through in_proj (D, Latent) instead of tok_emb
	Denoiser bool `json:"denoiser,omitempty"`  // with Latent: a time embedding joins every block and the output is a latent (out_proj) instead of logits
	SelfCond bool `json:"self_cond,omitempty"` // with Denoiser: a second input of Latent width, the previous estimate of z0
}

// Demo is the released models' configuration.
func Demo() Config {
	return Config{Vocab: 4096, Dim: 256, Layers: 6, Heads: 4, Hidden: 768, SeqLen: 128, RopeTheta: 10000, NormEps: 1e-5}
}

// Validate reports the first inconsistent field.
func (c Config) Validate() error {
	switch {
	case c.Vocab < 3:
		return fmt.Errorf("model config: vocab %d < 3", c.Vocab)
	case c.Dim <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Hidden <= 0 || c.SeqLen <= 0:
		return errors.New("model config: dim, layers, heads, hidden and seq_len must be positive")
	case c.Dim%c.Heads != 0 || (c.Dim/c.Heads)%2 != 0:
		return fmt.Errorf("model config: dim %d must split into %d heads of even size", c.Dim, c.Heads)
	case c.Shift && c.Causal:
		return errors.New("model config: shift is for bidirectional (masked) models; a causal model already predicts the next token")
	case c.Latent < 0 || (c.Denoiser && c.Latent == 0) || (c.SelfCond && !c.Denoiser):
		return errors.New("model config: denoiser needs latent > 0, and self_cond a denoiser")
	case c.Latent > 0 && (c.Causal || c.Shift):
		return errors.New("model config: a latent network is bidirectional and unshifted")
	case c.Latent > 1<<14:
		return errors.New("model config: latent width beyond what this engine supports")
	case c.RopeTheta <= 0 || c.NormEps <= 0:
		return errors.New("model config: rope_theta and norm_eps must be positive")
	case c.Vocab > 1<<20 || c.Dim > 1<<14 || c.Hidden > 1<<16 || c.Layers > 256 || c.SeqLen > 1<<16:
		return errors.New("model config: sizes beyond what this engine supports")
	}
	return nil
}

// OverTokens reports, for an exporter to a format of token models (LLaMA's safetensors
// layout, llama.cpp's GGUF, ONNX), an error when the network is a continuous diffusion
// model's latent network, which those formats have no tensors or graph for.
func (c Config) OverTokens(format string) error {
	if c.Latent > 0 {
		return fmt.Errorf("a continuous diffusion model's latent network (reads %d-wide latents) has no %s form; export a masked or autoregressive model", c.Latent, format)
	}
	return nil
}

// MaskID and EOTID are the two special tokens, the last two ids of the vocabulary.
func (c Config) MaskID() int32 { return int32(c.Vocab - 1) }
func (c Config) EOTID() int32  { return int32(c.Vocab - 2) }

// NumParams counts the parameters.
func (c Config) NumParams() int {
	n := 0
	for _, s := range c.Specs() {
		n += s.Size()
	}
	return n
}

// FLOPsPerToken is the training cost of one token: 6 x parameters (forward and backward
// of every weight) plus attention's 12 x layers x L x D (scores and weighted sums,
// forward and backward), as in the PaLM/nanoGPT MFU accounting. The embedding lookup is
// not a product, so its parameters are left out.
func (c Config) FLOPsPerToken(L int) float64 {
	p := c.NumParams()
	if c.Latent == 0 {
		p -= c.Vocab * c.Dim
	}
	return 6*float64(p) + 12*float64(c.Layers*L*c.Dim)
}
