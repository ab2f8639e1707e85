//go:build js && wasm

package gpu

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// Denoiser is the model's forward pass on WebGPU; it implements sample.Denoiser. Weights
// are uploaded once, activations are sized for cfg.SeqLen and reused, and the dispatches
// for each sequence length are recorded once. Its methods block the calling goroutine
// while the GPU works, so never call them from inside a js.FuncOf callback (the promise
// they wait for could then never resolve): call them from a goroutine.
type Denoiser struct {
	mu   sync.Mutex
	cfg  model.Config
	info webgpu.AdapterInfo
	k    *kernels

	tokEmb weight // (V, D)
	layers []layer
	norm   *webgpu.Buffer // (D)
	head   weight         // (V, D)
	rope   *webgpu.Buffer // (SeqLen, hd/2) of (cos, sin)

	// Activations, each sized for SeqLen rows.
	ids                  *webgpu.Buffer // (L) u32
	x, h, q, kk, v, att  *webgpu.Buffer // (L, D)
	gate, up             *webgpu.Buffer // (L, F)
	scores               *webgpu.Buffer // (H, L, L) attention scratch
	logits               *webgpu.Buffer // (L, V)
	cand                 *webgpu.Buffer // (L, 4) words
	logitsRead, candRead *webgpu.Buffer // staging for readback
	plans                map[int]*plan
	idsWords             []uint32

	bufs      []*webgpu.Buffer // every buffer above, destroyed by Close
	ownDevice bool             // whether Close destroys the device too
}

type layer struct {
	attnNorm, mlpNorm          *webgpu.Buffer // (D)
	wq, wk, wv, wo, w1, w3, w2 weight
}

// plan is the recorded forward pass for one sequence length.
type plan struct {
	forward []step // ids to logits
	cand    step   // logits to candidates
}

// Open builds a Denoiser from the model tensors of a decoded checkpoint or release file
// (other tensors, such as optimizer state, are ignored); see New.
func Open(f *checkpoint.File, cfg model.Config) (*Denoiser, error) {
	ts, err := modelTensors(f, cfg)
	if err != nil {
		return nil, err
	}
	return New(cfg, ts...)
}

// New checks the tensors against cfg (exactly the names and shapes of
// model.Config.Specs), opens a WebGPU device and uploads the weights. Matrices keep their
// type on the GPU (f32, q8_0 or q4_0 blocks as stored; f16 is widened to f32 because
// shader-f16 is often missing); norm weights are decoded to f32. It returns
// webgpu.ErrNoWebGPU (wrapped) when the browser offers no adapter.
func New(cfg model.Config, tensors ...checkpoint.Tensor) (*Denoiser, error) {
	byName, err := checkTensors(cfg, tensors)
	if err != nil {
		return nil, err
	}
	ad, err := webgpu.RequestAdapter()
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	dev, err := ad.RequestDevice(deviceLimits(ad))
	if err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	d, err := newOn(newKernels(dev), ad.Info(), cfg, byName)
	if err != nil {
		dev.Destroy()
		return nil, err
	}
	d.ownDevice = true
	return d, nil
}

// newOn builds a Denoiser on an open device, sharing its compiled pipelines (the tests
// use one device for every model: SwiftShader takes seconds to compile the set).
func newOn(k *kernels, info webgpu.AdapterInfo, cfg model.Config, byName map[string]*checkpoint.Tensor) (*Denoiser, error) {
	d := &Denoiser{cfg: cfg, info: info, k: k, plans: map[int]*plan{}}
	if err := d.upload(byName); err != nil {
		d.destroyBuffers()
		return nil, err
	}
	return d, nil
}

// deviceLimits asks for the adapter's own limits on buffer sizes and workgroup memory,
// so that models bigger than WebGPU's defaults (128 MiB bindings) fit where the adapter
// allows.
func deviceLimits(ad *webgpu.Adapter) map[string]float64 {
	l := map[string]float64{}
	for _, name := range []string{"maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupStorageSize"} {
		if v := ad.Limit(name); v > 0 {
			l[name] = v
		}
	}
	return l
}

func (d *Denoiser) upload(byName map[string]*checkpoint.Tensor) error {
	c := d.cfg
	k := d.k
	D, F, V, L := c.Dim, c.Hidden, c.Vocab, c.SeqLen
	keep := func(b *webgpu.Buffer) *webgpu.Buffer {
		d.bufs = append(d.bufs, b)
		return b
	}
	mat := func(name string) (weight, error) {
		t := byName[name]
		w := weight{dt: t.DType, rows: t.Shape[0], cols: t.Shape[1]}
		data := t.Raw
		switch t.DType {
		case checkpoint.F32:
			data = f32Bytes(t.F32)
		case checkpoint.F16:
			v, err := t.Float32()
			if err != nil {
				return w, fmt.Errorf("gpu: %w", err)
			}
			w.dt, data = checkpoint.F32, f32Bytes(v)
		}
		w.buf = keep(k.upload(name, data))
		return w, nil
	}
	vec := func(name string) (*webgpu.Buffer, error) {
		v, err := byName[name].Float32()
		if err != nil {
			return nil, fmt.Errorf("gpu: %w", err)
		}
		return keep(k.upload(name, f32Bytes(v))), nil
	}
	var err error
	// The first error sticks; later uploads still run but their results are dropped.
	m := func(name string) weight {
		w, e := mat(name)
		if err == nil {
			err = e
		}
		return w
	}
	n := func(name string) *webgpu.Buffer {
		b, e := vec(name)
		if err == nil {
			err = e
		}
		return b
	}
	d.tokEmb = m("tok_emb")
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		d.layers = append(d.layers, layer{
			attnNorm: n(p + "attn_norm"), mlpNorm: n(p + "mlp_norm"),
			wq: m(p + "wq"), wk: m(p + "wk"), wv: m(p + "wv"), wo: m(p + "wo"),
			w1: m(p + "w1"), w3: m(p + "w3"), w2: m(p + "w2"),
		})
	}
	d.norm = n("norm")
	d.head = m("head")
	if err != nil {
		return err
	}
	// The same table as the CPU path (float64 angles rounded once), interleaved (cos, sin).
	hd := D / c.Heads
	rt := nn.NewRopeTable(L, hd, c.RopeTheta)
	cs := make([]float32, 2*len(rt.Cos))
	for i := range rt.Cos {
		cs[2*i], cs[2*i+1] = rt.Cos[i], rt.Sin[i]
	}
	d.rope = keep(k.upload("rope", f32Bytes(cs)))

	act := func(label string, words int) *webgpu.Buffer { return keep(k.storage(label, words)) }
	d.ids = act("ids", L)
	d.x, d.h, d.q, d.kk = act("x", L*D), act("h", L*D), act("q", L*D), act("k", L*D)
	d.v, d.att = act("v", L*D), act("att", L*D)
	d.gate, d.up = act("gate", L*F), act("up", L*F)
	d.scores = act("scores", c.Heads*L*L)
	d.logits = act("logits", L*V)
	d.cand = act("cand", L*4)
	d.logitsRead = keep(k.staging("logits read", 4*L*V))
	d.candRead = keep(k.staging("cand read", 4*L*4))
	d.idsWords = make([]uint32, L)
	// Compile every pipeline now (SwiftShader takes a while), so the first call is not slow
	// and shader errors surface here.
	_, err = d.plan(1)
	return err
}

// plan returns the recorded dispatches for sequences of length L.
func (d *Denoiser) plan(L int) (*plan, error) {
	if p, ok := d.plans[L]; ok {
		return p, nil
	}
	c, k := d.cfg, d.k
	D, F, V, H := c.Dim, c.Hidden, c.Vocab, c.Heads
	hd := D / H
	var steps []step
	var err error
	add := func(s step, e error) {
		if err == nil && e != nil {
			err = e
		}
		steps = append(steps, s)
	}
	add(k.embed(d.ids, d.tokEmb.buf, d.tokEmb.dt, d.x, L, D))
	for _, ly := range d.layers {
		add(k.rmsnorm(d.x, ly.attnNorm, d.h, L, D, c.NormEps))
		add(k.matmul(d.h, ly.wq, d.q, L, false))
		add(k.matmul(d.h, ly.wk, d.kk, L, false))
		add(k.matmul(d.h, ly.wv, d.v, L, false))
		add(k.rope(d.rope, d.q, d.kk, L, H, hd))
		att, e := k.attention(d.q, d.kk, d.v, d.scores, d.att, L, H, hd, c.Causal)
		if err == nil && e != nil {
			err = e
		}
		steps = append(steps, att...)
		add(k.matmul(d.att, ly.wo, d.x, L, true)) // x += attn Wo^T
		add(k.rmsnorm(d.x, ly.mlpNorm, d.h, L, D, c.NormEps))
		add(k.matmul(d.h, ly.w1, d.gate, L, false))
		add(k.matmul(d.h, ly.w3, d.up, L, false))
		add(k.swiglu(d.gate, d.up, L*F))
		add(k.matmul(d.gate, ly.w2, d.x, L, true)) // x += swiglu W2^T
	}
	add(k.rmsnorm(d.x, d.norm, d.h, L, D, c.NormEps))
	headIn := d.h
	if c.Shift {
		// Position i reads the hidden state at i-1 (model.ShiftRows); att is free by now.
		add(k.shiftRows(d.h, d.att, L, D))
		headIn = d.att
	}
	add(k.matmul(headIn, d.head, d.logits, L, false))
	cand, cerr := k.argmaxConf(d.logits, d.cand, L, V, int(c.MaskID()))
	if err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	p := &plan{forward: steps, cand: cand}
	d.plans[L] = p
	return p, nil
}

// Vocab is the vocabulary size.
func (d *Denoiser) Vocab() int { return d.cfg.Vocab }

// Config is the model's configuration.
func (d *Denoiser) Config() model.Config { return d.cfg }

// AdapterInfo describes the GPU (for the UI: software adapters are slow).
func (d *Denoiser) AdapterInfo() webgpu.AdapterInfo { return d.info }

// AdapterName is a short name of the GPU, with "(fallback)" for a software adapter.
func (d *Denoiser) AdapterName() string { return d.info.Name() }

// Name is AdapterName (the UI's name for the backend).
func (d *Denoiser) Name() string { return d.info.Name() }

// Close frees the GPU memory (and the device New opened); the Denoiser is unusable afterwards.
func (d *Denoiser) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.destroyBuffers()
	if d.ownDevice {
		d.k.dev.Destroy()
	}
	d.plans = nil
}

// LoseDevice destroys the device under the Denoiser, as the browser does when it
// reclaims the GPU; every later call fails with webgpu.ErrDeviceLost. For tests of what
// survives that.
func (d *Denoiser) LoseDevice() { d.k.dev.Destroy() }

func (d *Denoiser) destroyBuffers() {
	for _, b := range d.bufs {
		b.Destroy()
	}
	d.bufs = nil
}

// start validates ids, uploads them and returns the plan for their length.
func (d *Denoiser) start(ids []int32) (*plan, error) {
	L := len(ids)
	if d.plans == nil {
		return nil, errors.New("gpu: Denoiser used after Close")
	}
	if err := d.k.dev.Lost(); err != nil {
		return nil, fmt.Errorf("gpu: %w", err)
	}
	if L == 0 || L > d.cfg.SeqLen {
		return nil, fmt.Errorf("gpu: sequence of %d tokens, want 1..%d", L, d.cfg.SeqLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= d.cfg.Vocab {
			return nil, fmt.Errorf("gpu: token %d at position %d outside vocabulary of %d", id, i, d.cfg.Vocab)
		}
		d.idsWords[i] = uint32(id)
	}
	p, err := d.plan(L)
	if err != nil {
		return nil, err
	}
	d.k.dev.WriteBuffer(d.ids, 0, u32Bytes(d.idsWords[:L]))
	return p, nil
}

// submit runs steps and copies under an error scope and returns the first validation error.
func (d *Denoiser) submit(steps []step, copies ...copyOp) error {
	d.k.dev.PushErrorScope("validation")
	d.k.run(steps, copies...)
	if err := d.k.dev.PopErrorScope(); err != nil {
		return fmt.Errorf("gpu: forward pass: %w", err)
	}
	return nil
}

// Logits returns the (len(ids), Vocab()) logits, row-major, in a fresh slice.
func (d *Denoiser) Logits(ids []int32) ([]float32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.start(ids)
	if err != nil {
		return nil, err
	}
	n := len(ids) * d.cfg.Vocab
	if err := d.submit(p.forward, copyOp{d.logits, d.logitsRead, 4 * n}); err != nil {
		return nil, err
	}
	out := make([]float32, n)
	if err := d.k.dev.ReadBuffer(d.logitsRead, f32Bytes(out)); err != nil {
		return nil, fmt.Errorf("gpu: reading logits: %w", err)
	}
	return out, nil
}

// Candidates returns, per position, the most likely token other than MASK and its
// softmax probability (over every token but MASK), computed on the GPU so that only
// 8 bytes a position are read back. Ties go to the smaller id.
func (d *Denoiser) Candidates(ids []int32) (tok []int32, conf []float32, err error) {
	tok, conf, _, err = d.CandidatesEntropy(ids)
	return tok, conf, err
}

// CandidatesEntropy is Candidates plus each position's entropy in nats (over every token
// but MASK), for entropy-ranked sampling.
func (d *Denoiser) CandidatesEntropy(ids []int32) (tok []int32, conf, entropy []float32, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.start(ids)
	if err != nil {
		return nil, nil, nil, err
	}
	L := len(ids)
	steps := append(p.forward[:len(p.forward):len(p.forward)], p.cand)
	if err := d.submit(steps, copyOp{d.cand, d.candRead, 16 * L}); err != nil {
		return nil, nil, nil, err
	}
	words := make([]uint32, 4*L)
	if err := d.k.dev.ReadBuffer(d.candRead, u32Bytes(words)); err != nil {
		return nil, nil, nil, fmt.Errorf("gpu: reading candidates: %w", err)
	}
	tok, conf, entropy = make([]int32, L), make([]float32, L), make([]float32, L)
	for i := 0; i < L; i++ {
		tok[i] = int32(words[4*i])
		conf[i] = math.Float32frombits(words[4*i+1])
		entropy[i] = math.Float32frombits(words[4*i+2])
	}
	return tok, conf, entropy, nil
}
