//go:build js && wasm

package gpu

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// Denoiser is the model's forward pass on WebGPU; it implements sample.BatchDenoiser.
// Weights are uploaded once; activations are sized for a batch of sequences of cfg.SeqLen
// rows (one at first, remade larger when a batch needs more) and reused, and the
// dispatches for each input shape are recorded once. Its methods block the calling
// goroutine while the GPU works, so never call them from inside a js.FuncOf callback (the
// promise they wait for could then never resolve): call them from a goroutine.
type Denoiser struct {
	holder
	cfg model.Config

	tokEmb weight // (V, D)
	*stack
	head weight // (V, D)

	// Activations (kept in holder.acts), each sized for stack.batch sequences of SeqLen
	// rows (the blocks' are the stack's).
	ids                  *webgpu.Buffer // (rows) u32
	logits               *webgpu.Buffer // (rows, V)
	cand                 *webgpu.Buffer // (rows, 4) words
	logitsRead, candRead *webgpu.Buffer // staging for readback
	idsWords             []uint32
	maxBytes             int // the largest buffer the device allows
	plans                map[shape]*plan
	out                  []float32 // BatchLogits' result, reused
}

// shape is an input's: B sequences of L tokens.
type shape struct{ B, L int }

// plan is the recorded forward pass for one input shape.
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
	d := &Denoiser{holder: holder{k: k, info: info}, cfg: cfg, plans: map[shape]*plan{}}
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
	u := &uploader{k: d.k, byName: byName}
	d.tokEmb = u.mat("tok_emb")
	d.stack = uploadStack(u, c)
	d.head = u.mat("head")
	d.bufs = u.bufs
	if u.err != nil {
		return u.err
	}
	d.maxBytes = bufferLimit(d.k.dev)
	if d.maxBatch() < 1 {
		return fmt.Errorf("gpu: one sequence of %d rows needs a buffer of %d bytes, over this device's limit of %d",
			c.SeqLen, 4*d.seqWords(), d.maxBytes)
	}
	d.makeActs(1)
	err := d.chooseMatmul(c.SeqLen, func(L int) ([]step, error) {
		p, err := d.record(shape{1, L})
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
	_, err = d.plan(shape{1, 1})
	return err
}

// bufferLimit is the size in bytes of the largest storage buffer dev allows to bind
// (WebGPU's defaults where the browser does not say).
func bufferLimit(dev *webgpu.Device) int {
	limit := func(name string, def float64) float64 {
		if v := dev.Limit(name); v > 0 {
			return v
		}
		return def
	}
	return int(min(limit("maxStorageBufferBindingSize", 128<<20), limit("maxBufferSize", 256<<20)))
}

// seqWords is the size in words of the largest activation for one sequence of SeqLen rows;
// every activation grows in proportion to the batch.
func (d *Denoiser) seqWords() int {
	return max(d.stack.actWords(), d.cfg.SeqLen*d.cfg.Vocab)
}

// maxBatch is the most sequences one pass can hold within the device's buffer limit and
// with one workgroup row a position (embed, RoPE and attention dispatch one per row, at
// most 65535, WebGPU's default limit per dimension).
func (d *Denoiser) maxBatch() int { return min(d.maxBytes/(4*d.seqWords()), 65535/d.cfg.SeqLen) }

// makeActs (re)makes the activations for B sequences of up to SeqLen rows and destroys the
// old ones; the recorded plans bound those, so they go too.
func (d *Denoiser) makeActs(B int) {
	c := d.cfg
	rows := B * c.SeqLen
	u := &uploader{k: d.k}
	d.stack.makeActs(u, B)
	d.ids = u.act("ids", rows)
	d.logits = u.act("logits", rows*c.Vocab)
	d.cand = u.act("cand", rows*4)
	d.logitsRead = u.keep(d.k.staging("logits read", 4*rows*c.Vocab))
	d.candRead = u.keep(d.k.staging("cand read", 4*rows*4))
	for _, b := range d.acts {
		b.Destroy()
	}
	d.acts = u.bufs
	d.idsWords = make([]uint32, rows)
	clear(d.plans)
}

// plan returns the recorded dispatches for an input of shape sh.
func (d *Denoiser) plan(sh shape) (*plan, error) {
	return cached(d.plans, sh, func() (*plan, error) { return d.record(sh) })
}

// record records the dispatches for an input of shape sh with d.k: every op once over the
// B*L rows, attention and RoPE within each sequence.
func (d *Denoiser) record(sh shape) (*plan, error) {
	c, k := d.cfg, d.k
	D, V := c.Dim, c.Vocab
	B, L := sh.B, sh.L
	M := B * L
	var r recorder
	r.add(k.embed(d.ids, d.tokEmb.buf, d.tokEmb.dt, d.x, M, D))
	r.addAll(d.stack.steps(k, B, L, nil))
	headIn := d.h
	if c.Shift {
		// Position i reads the hidden state at i-1 (model.ShiftRows); att is free by now.
		r.add(k.shiftRows(d.h, d.att, B, L, D))
		headIn = d.att
	}
	r.add(k.matmul(headIn, d.head, d.logits, M, false))
	cand, err := k.argmaxConf(d.logits, d.cand, M, V, int(c.MaskID()))
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

// start validates the B sequences of ids (B, L), B at most maxBatch, makes room for
// them, uploads them and returns the plan for their shape.
func (d *Denoiser) start(ids []int32, B int) (*plan, error) {
	if err := d.usable(); err != nil {
		return nil, err
	}
	L := len(ids) / B
	if L == 0 || L > d.cfg.SeqLen {
		return nil, fmt.Errorf("gpu: sequence of %d tokens, want 1..%d", L, d.cfg.SeqLen)
	}
	for i, id := range ids {
		if id < 0 || int(id) >= d.cfg.Vocab {
			return nil, fmt.Errorf("gpu: token %d at position %d of sequence %d outside vocabulary of %d", id, i%L, i/L, d.cfg.Vocab)
		}
	}
	if B > d.stack.batch {
		d.makeActs(B)
	}
	for i, id := range ids {
		d.idsWords[i] = uint32(id)
	}
	p, err := d.plan(shape{B, L})
	if err != nil {
		return nil, err
	}
	d.k.dev.WriteBuffer(d.ids, 0, u32Bytes(d.idsWords[:len(ids)]))
	return p, nil
}

// Logits returns the (len(ids), Vocab()) logits, row-major, in a fresh slice: BatchLogits
// of one sequence.
func (d *Denoiser) Logits(ids []int32) ([]float32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]float32, len(ids)*d.cfg.Vocab)
	if err := d.logitsInto(out, ids, 1); err != nil {
		return nil, err
	}
	return out, nil
}

// BatchLogits returns the (B*L, Vocab()) logits of the B sequences of ids (B, L),
// row-major, in one submission that dispatches every op once over the B*L rows, each
// sequence attending within itself. A batch whose activations would pass the device's
// buffer limit runs in as few such passes as fit. The result is the Denoiser's buffer,
// valid until its next BatchLogits call.
func (d *Denoiser) BatchLogits(ids []int32, B int) ([]float32, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if B <= 0 || len(ids)%B != 0 {
		return nil, fmt.Errorf("gpu: %d tokens do not split into %d sequences", len(ids), B)
	}
	L, V, n := len(ids)/B, d.cfg.Vocab, d.maxBatch()
	d.out = slices.Grow(d.out[:0], len(ids)*V)[:len(ids)*V]
	for b := 0; b < B; b += n {
		m := min(n, B-b)
		if err := d.logitsInto(d.out[b*L*V:(b+m)*L*V], ids[b*L:(b+m)*L], m); err != nil {
			return nil, err
		}
	}
	return d.out, nil
}

// logitsInto runs one pass over the B sequences of ids (B at most maxBatch) and reads
// their logits into dst.
func (d *Denoiser) logitsInto(dst []float32, ids []int32, B int) error {
	p, err := d.start(ids, B)
	if err != nil {
		return err
	}
	return d.readInto(dst, "logits", p.forward, d.logits, d.logitsRead)
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
	p, err := d.start(ids, 1)
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
