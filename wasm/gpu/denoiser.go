//go:build js && wasm

package gpu

import (
	"errors"
	"fmt"
	"math"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// Denoiser is the model's forward pass on WebGPU; it implements sample.Denoiser. Weights
// are uploaded once, activations are sized for cfg.SeqLen and reused, and the dispatches
// for each sequence length are recorded once. Its methods block the calling goroutine
// while the GPU works, so never call them from inside a js.FuncOf callback (the promise
// they wait for could then never resolve): call them from a goroutine.
type Denoiser struct {
	holder
	cfg model.Config

	tokEmb weight // (V, D)
	*stack
	head weight // (V, D)

	// Activations, each sized for SeqLen rows (the blocks' are the stack's).
	ids                  *webgpu.Buffer // (L) u32
	logits               *webgpu.Buffer // (L, V)
	cand                 *webgpu.Buffer // (L, 4) words
	logitsRead, candRead *webgpu.Buffer // staging for readback
	plans                map[int]*plan
	idsWords             []uint32
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
// model.Config.Specs), opens a WebGPU device, uploads the weights and keeps the faster of
// the two matmul kernels on this adapter (see MatmulChoice). Matrices keep their
// type on the GPU (f32, q8_0 or q4_0 blocks as stored; f16 is widened to f32 because
// shader-f16 is often missing); norm weights are decoded to f32. It returns
// webgpu.ErrNoWebGPU (wrapped) when the browser offers no adapter.
func New(cfg model.Config, tensors ...checkpoint.Tensor) (*Denoiser, error) {
	byName, err := checkTensors(cfg, tensors)
	if err != nil {
		return nil, err
	}
	return withDevice(func(k *kernels, info webgpu.AdapterInfo) (*Denoiser, error) {
		return newOn(k, info, cfg, byName, timePass)
	})
}

// newOn builds a Denoiser on an open device, sharing its compiled pipelines (the tests
// use one device for every model: SwiftShader takes seconds to compile the set). It
// chooses the matmul kernel by timing a forward pass with each (measure), or keeps k's
// when measure is nil.
func newOn(k *kernels, info webgpu.AdapterInfo, cfg model.Config, byName map[string]*checkpoint.Tensor, measure measureFunc) (*Denoiser, error) {
	d := &Denoiser{holder: holder{k: k, info: info}, cfg: cfg, plans: map[int]*plan{}}
	if err := d.upload(byName, measure); err != nil {
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

func (d *Denoiser) upload(byName map[string]*checkpoint.Tensor, measure measureFunc) error {
	c := d.cfg
	V, L := c.Vocab, c.SeqLen
	u := &uploader{k: d.k, byName: byName}
	d.tokEmb = u.mat("tok_emb")
	d.stack = uploadStack(u, c)
	d.head = u.mat("head")
	d.ids = u.act("ids", L)
	d.logits = u.act("logits", L*V)
	d.cand = u.act("cand", L*4)
	d.logitsRead = u.keep(d.k.staging("logits read", 4*L*V))
	d.candRead = u.keep(d.k.staging("cand read", 4*L*4))
	d.bufs = u.bufs
	if u.err != nil {
		return u.err
	}
	d.idsWords = make([]uint32, L)
	err := d.chooseMatmul(L, func(L int) ([]step, error) {
		p, err := d.record(L)
		if err != nil {
			return nil, err
		}
		return p.forward, nil
	}, measure)
	if err != nil {
		return err
	}
	// Compile every pipeline now (SwiftShader takes a while), so the first call is not slow
	// and shader errors surface here.
	_, err = d.plan(1)
	return err
}

// plan returns the recorded dispatches for sequences of length L.
func (d *Denoiser) plan(L int) (*plan, error) {
	return cached(d.plans, L, func() (*plan, error) { return d.record(L) })
}

// record records the dispatches for sequences of length L with d.k.
func (d *Denoiser) record(L int) (*plan, error) {
	c, k := d.cfg, d.k
	D, V := c.Dim, c.Vocab
	var r recorder
	r.add(k.embed(d.ids, d.tokEmb.buf, d.tokEmb.dt, d.x, L, D))
	r.addAll(d.stack.steps(k, L, nil))
	headIn := d.h
	if c.Shift {
		// Position i reads the hidden state at i-1 (model.ShiftRows); att is free by now.
		r.add(k.shiftRows(d.h, d.att, L, D))
		headIn = d.att
	}
	r.add(k.matmul(headIn, d.head, d.logits, L, false))
	cand, err := k.argmaxConf(d.logits, d.cand, L, V, int(c.MaskID()))
	if r.err != nil || err != nil {
		return nil, errors.Join(r.err, err)
	}
	return &plan{forward: r.steps, cand: cand}, nil
}

// Vocab is the vocabulary size.
func (d *Denoiser) Vocab() int { return d.cfg.Vocab }

// Config is the model's configuration.
func (d *Denoiser) Config() model.Config { return d.cfg }

// Name is AdapterName (the UI's name for the backend).
func (d *Denoiser) Name() string { return d.info.Name() }

// start validates ids, uploads them and returns the plan for their length.
func (d *Denoiser) start(ids []int32) (*plan, error) {
	L := len(ids)
	if err := d.usable(); err != nil {
		return nil, err
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

// Logits returns the (len(ids), Vocab()) logits, row-major, in a fresh slice.
func (d *Denoiser) Logits(ids []int32) ([]float32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, err := d.start(ids)
	if err != nil {
		return nil, err
	}
	return d.read("logits", p.forward, d.logits, d.logitsRead, len(ids)*d.cfg.Vocab)
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
