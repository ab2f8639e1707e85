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
// the activations they use, each sized for cfg.SeqLen rows: the input x (L, D) enters the
// first block, the normed hidden states come out in h (L, D).
type stack struct {
	cfg                 model.Config
	layers              []layer
	norm                *webgpu.Buffer // (D)
	rope                *webgpu.Buffer // (SeqLen, hd/2) of (cos, sin)
	x, h, q, kk, v, att *webgpu.Buffer // (L, D)
	gate, up            *webgpu.Buffer // (L, F)
	scores              *webgpu.Buffer // (H, L, L) attention scratch
}

type layer struct {
	attnNorm, mlpNorm          *webgpu.Buffer // (D)
	wq, wk, wv, wo, w1, w3, w2 weight
}

// uploadStack uploads the blocks' and the final norm's tensors of cfg and makes their
// activations.
func uploadStack(u *uploader, cfg model.Config) *stack {
	c := cfg
	D, F, L := c.Dim, c.Hidden, c.SeqLen
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
	s.x, s.h, s.q, s.kk = u.act("x", L*D), u.act("h", L*D), u.act("q", L*D), u.act("k", L*D)
	s.v, s.att = u.act("v", L*D), u.act("att", L*D)
	s.gate, s.up = u.act("gate", L*F), u.act("up", L*F)
	s.scores = u.act("scores", c.Heads*L*L)
	return s
}

// steps records the blocks and the final norm for L rows, x to h; cond (L, D), if not
// nil, joins the residual stream at the start of every block.
func (s *stack) steps(k *kernels, L int, cond *webgpu.Buffer) ([]step, error) {
	c := s.cfg
	D, F, H := c.Dim, c.Hidden, c.Heads
	hd := D / H
	var r recorder
	add := r.add
	for _, ly := range s.layers {
		if cond != nil {
			add(k.bias(s.x, cond, L*D, L*D, false))
		}
		add(k.rmsnorm(s.x, ly.attnNorm, s.h, L, D, c.NormEps))
		add(k.matmul(s.h, ly.wq, s.q, L, false))
		add(k.matmul(s.h, ly.wk, s.kk, L, false))
		add(k.matmul(s.h, ly.wv, s.v, L, false))
		add(k.rope(s.rope, s.q, s.kk, L, H, hd))
		r.addAll(k.attention(s.q, s.kk, s.v, s.scores, s.att, L, H, hd, c.Causal))
		add(k.matmul(s.att, ly.wo, s.x, L, true)) // x += attn Wo^T
		add(k.rmsnorm(s.x, ly.mlpNorm, s.h, L, D, c.NormEps))
		add(k.matmul(s.h, ly.w1, s.gate, L, false))
		add(k.matmul(s.h, ly.w3, s.up, L, false))
		add(k.swiglu(s.gate, s.up, L*F))
		add(k.matmul(s.gate, ly.w2, s.x, L, true)) // x += swiglu W2^T
	}
	add(k.rmsnorm(s.x, s.norm, s.h, L, D, c.NormEps))
	return r.steps, r.err
}
