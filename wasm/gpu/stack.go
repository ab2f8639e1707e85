//go:build js && wasm

package gpu

import (
	"fmt"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// uploader moves a network's tensors to the GPU, keeping every buffer it makes in bufs
// (to destroy) and the first error in err: later uploads still run, their results dropped.
type uploader struct {
	k      *kernels
	byName map[string]*checkpoint.Tensor
	bufs   []*webgpu.Buffer
	err    error
}

func (u *uploader) keep(b *webgpu.Buffer) *webgpu.Buffer {
	u.bufs = append(u.bufs, b)
	return b
}

func (u *uploader) fail(err error) {
	if u.err == nil {
		u.err = err
	}
}

// mat uploads a matrix in its stored type (f16 widened to f32: shader-f16 is often missing).
func (u *uploader) mat(name string) weight {
	t := u.byName[name]
	w := weight{dt: t.DType, rows: t.Shape[0], cols: t.Shape[1]}
	data := t.Raw
	switch t.DType {
	case checkpoint.F32:
		data = f32Bytes(t.F32)
	case checkpoint.F16:
		v, err := t.Float32()
		if err != nil {
			u.fail(fmt.Errorf("gpu: %w", err))
			return w
		}
		w.dt, data = checkpoint.F32, f32Bytes(v)
	}
	w.buf = u.keep(u.k.upload(name, data))
	return w
}

// vec uploads a vector (a norm's weights, a bias) decoded to f32.
func (u *uploader) vec(name string) *webgpu.Buffer {
	v, err := u.byName[name].Float32()
	if err != nil {
		u.fail(fmt.Errorf("gpu: %w", err))
		return nil
	}
	return u.keep(u.k.upload(name, f32Bytes(v)))
}

// act makes an activation buffer of words float32s.
func (u *uploader) act(label string, words int) *webgpu.Buffer {
	return u.keep(u.k.storage(label, words))
}

// stack is a Transformer's blocks and final norm on the GPU (model.BlocksForward), with
// the activations they use, each sized for batch sequences of cfg.SeqLen rows: the input x
// (rows, D) enters the first block, the normed hidden states come out in h (rows, D).
type stack struct {
	cfg                 model.Config
	layers              []layer
	norm                *webgpu.Buffer // (D)
	rope                *webgpu.Buffer // (SeqLen, hd/2) of (cos, sin)
	batch               int            // sequences the activations hold
	x, h, q, kk, v, att *webgpu.Buffer // (rows, D)
	gate, up            *webgpu.Buffer // (rows, F)
	scores              *webgpu.Buffer // (batch, H, SeqLen, SeqLen) attention scratch
}

type layer struct {
	attnNorm, mlpNorm          *webgpu.Buffer // (D)
	wq, wk, wv, wo, w1, w3, w2 weight
}

// uploadStack uploads the blocks' and the final norm's tensors of cfg; makeActs then
// makes their activations.
func uploadStack(u *uploader, cfg model.Config) *stack {
	c := cfg
	D, L := c.Dim, c.SeqLen
	s := &stack{cfg: c}
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		s.layers = append(s.layers, layer{
			attnNorm: u.vec(p + "attn_norm"), mlpNorm: u.vec(p + "mlp_norm"),
			wq: u.mat(p + "wq"), wk: u.mat(p + "wk"), wv: u.mat(p + "wv"), wo: u.mat(p + "wo"),
			w1: u.mat(p + "w1"), w3: u.mat(p + "w3"), w2: u.mat(p + "w2"),
		})
	}
	s.norm = u.vec("norm")
	// The same table as the CPU path (float64 angles rounded once), interleaved (cos, sin).
	rt := nn.NewRopeTable(L, D/c.Heads, c.RopeTheta)
	cs := make([]float32, 2*len(rt.Cos))
	for i := range rt.Cos {
		cs[2*i], cs[2*i+1] = rt.Cos[i], rt.Sin[i]
	}
	s.rope = u.keep(u.k.upload("rope", f32Bytes(cs)))
	return s
}

// makeActs makes the activations for B sequences of up to SeqLen rows (through u, which
// keeps them), replacing the stack's references to any older ones.
func (s *stack) makeActs(u *uploader, B int) {
	c := s.cfg
	D, F, L := c.Dim, c.Hidden, c.SeqLen
	rows := B * L
	s.batch = B
	s.x, s.h, s.q, s.kk = u.act("x", rows*D), u.act("h", rows*D), u.act("q", rows*D), u.act("k", rows*D)
	s.v, s.att = u.act("v", rows*D), u.act("att", rows*D)
	s.gate, s.up = u.act("gate", rows*F), u.act("up", rows*F)
	s.scores = u.act("scores", B*c.Heads*L*L)
}

// actWords is the size in words of the stack's largest activation for one sequence of
// SeqLen rows (they all grow in proportion to the batch).
func (s *stack) actWords() int {
	c := s.cfg
	return max(c.SeqLen*c.Dim, c.SeqLen*c.Hidden, c.Heads*c.SeqLen*c.SeqLen)
}

// steps records the blocks and the final norm for B sequences of L rows each (B at most
// s.batch), x to h; cond (B*L, D), if not nil, joins the residual stream at the start of
// every block. Only attention and RoPE see the sequences; the other ops run over B*L rows.
func (s *stack) steps(k *kernels, B, L int, cond *webgpu.Buffer) ([]step, error) {
	c := s.cfg
	D, F, H := c.Dim, c.Hidden, c.Heads
	hd := D / H
	M := B * L
	var r recorder
	add := r.add
	for _, ly := range s.layers {
		if cond != nil {
			add(k.bias(s.x, cond, M*D, M*D, false))
		}
		add(k.rmsnorm(s.x, ly.attnNorm, s.h, M, D, c.NormEps))
		add(k.matmul(s.h, ly.wq, s.q, M, false))
		add(k.matmul(s.h, ly.wk, s.kk, M, false))
		add(k.matmul(s.h, ly.wv, s.v, M, false))
		add(k.rope(s.rope, s.q, s.kk, B, L, H, hd))
		r.addAll(k.attention(s.q, s.kk, s.v, s.scores, s.att, B, L, H, hd, c.Causal))
		add(k.matmul(s.att, ly.wo, s.x, M, true)) // x += attn Wo^T
		add(k.rmsnorm(s.x, ly.mlpNorm, s.h, M, D, c.NormEps))
		add(k.matmul(s.h, ly.w1, s.gate, M, false))
		add(k.matmul(s.h, ly.w3, s.up, M, false))
		add(k.swiglu(s.gate, s.up, M*F))
		add(k.matmul(s.gate, ly.w2, s.x, M, true)) // x += swiglu W2^T
	}
	add(k.rmsnorm(s.x, s.norm, s.h, M, D, c.NormEps))
	return r.steps, r.err
}
