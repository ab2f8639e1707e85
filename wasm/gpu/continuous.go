//go:build js && wasm

package gpu

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// Continuous is a continuous model's denoiser and decoder on WebGPU with one sample's
// latents kept on the GPU: a continuous.Backend. The sampler in core/continuous drives it
// as it drives the CPU backend (it owns the loop, the coefficients and the noise); each
// Denoise, Update and Tokens call is one submission. The encoder stays on the CPU (it runs
// once a sample, on the prompt). Like Denoiser, its methods block on the GPU: call them
// from a goroutine, never inside a js.FuncOf callback.
type Continuous struct {
	holder
	den, dec model.Config

	denStack, decStack *stack
	inProj             weight         // the denoiser's (D, In)
	timeW1, timeW2     weight         // (D, D)
	timeB1, timeB2     *webgpu.Buffer // (D)
	outProj            weight         // (Z, D)
	outBias            *webgpu.Buffer // (Z)
	decIn, head        weight         // the decoder's (Dd, Z) and (V, Dd)
	freqs              *webgpu.Buffer // (D/2) time frequencies in turns per unit time

	// One sample's state and scratch, each sized for SeqLen rows.
	z, est, raw, noise, clean *webgpu.Buffer // (L, Z)
	known, t                  *webgpu.Buffer // (L) u32, (L) f32
	in                        *webgpu.Buffer // (L, 2Z) self-conditioning's input
	temb, cond                *webgpu.Buffer // (L, D)
	logits, cand              *webgpu.Buffer // (L, V), (L, 4)
	estRead, logitsRead       *webgpu.Buffer
	candRead                  *webgpu.Buffer
	update                    *webgpu.Buffer // gaussianUpdate's params for z, rewritten per step

	plans map[int]*latentPlan
	L     int // rows of the current sample; 0 before Begin
}

// latentPlan is the recorded work for L rows.
type latentPlan struct {
	denoise []step         // z, est (previous), t -> est (current)
	update  step           // z -> z
	params  *webgpu.Buffer // update's uniform: its coefficients are rewritten per step
	decode  []step         // est -> logits
	cand    step           // logits -> cand
}

// OpenContinuous builds a Continuous from a continuous model file (see core/continuous):
// the denoiser's tensors unprefixed, the decoder's under "decoder.", its config in the
// file's notes; the encoder's are left to the CPU. It returns webgpu.ErrNoWebGPU (wrapped)
// when the browser offers no adapter.
func OpenContinuous(f *checkpoint.File) (*Continuous, error) {
	den, dec, byName, err := continuousTensors(f)
	if err != nil {
		return nil, err
	}
	return withDevice(func(k *kernels, info webgpu.AdapterInfo) (*Continuous, error) {
		return newContinuousOn(k, info, den, dec, byName, timePass)
	})
}

// continuousTensors reads the two networks' configs from f and checks their tensors;
// the decoder's are renamed without their prefix, under "decoder." in byName.
func continuousTensors(f *checkpoint.File) (den, dec model.Config, byName map[string]*checkpoint.Tensor, err error) {
	if f.Notes["kind"] != continuous.Kind {
		return den, dec, nil, fmt.Errorf("gpu: not a continuous model file (kind %q)", f.Notes["kind"])
	}
	if err := json.Unmarshal(f.Config, &den); err != nil {
		return den, dec, nil, fmt.Errorf("gpu: denoiser config: %w", err)
	}
	if err := json.Unmarshal([]byte(f.Notes[continuous.DecoderNote]), &dec); err != nil {
		return den, dec, nil, fmt.Errorf("gpu: decoder config: %w", err)
	}
	if !den.Denoiser || dec.Latent != den.Latent || dec.Denoiser {
		return den, dec, nil, errors.New("gpu: the file's networks are not a denoiser and a decoder of one latent width")
	}
	if den.Dim%2 != 0 || den.Latent%4 != 0 {
		return den, dec, nil, fmt.Errorf("gpu: latent width %d is not a multiple of 4", den.Latent)
	}
	pick := func(cfg model.Config, prefix string) (map[string]*checkpoint.Tensor, error) {
		var ts []checkpoint.Tensor
		for _, s := range cfg.Specs() {
			t := f.Tensor(prefix + s.Name)
			if t == nil {
				return nil, fmt.Errorf("gpu: tensor %q missing from the file", prefix+s.Name)
			}
			c := *t
			c.Name = s.Name
			ts = append(ts, c)
		}
		return checkTensors(cfg, ts)
	}
	d, err := pick(den, "")
	if err != nil {
		return den, dec, nil, err
	}
	c, err := pick(dec, "decoder.")
	if err != nil {
		return den, dec, nil, err
	}
	for name, t := range c {
		d["decoder."+name] = t
	}
	return den, dec, d, nil
}

// newContinuousOn builds a Continuous on an open device (the tests share one). It chooses
// the matmul kernel by timing a denoiser and decoder pass with each (measure), or keeps
// k's when measure is nil.
func newContinuousOn(k *kernels, info webgpu.AdapterInfo, den, dec model.Config, byName map[string]*checkpoint.Tensor, measure measureFunc) (*Continuous, error) {
	c := &Continuous{holder: holder{k: k, info: info}, den: den, dec: dec, plans: map[int]*latentPlan{}}
	u := &uploader{k: k, byName: byName}
	c.inProj = u.mat("in_proj")
	c.timeW1, c.timeB1, c.timeW2, c.timeB2 = u.mat("time_w1"), u.vec("time_b1"), u.mat("time_w2"), u.vec("time_b2")
	c.denStack = uploadStack(u, den)
	c.denStack.makeActs(u, 1)
	c.outProj, c.outBias = u.mat("out_proj"), u.vec("out_bias")
	// The decoder's tensors, read under their own names.
	du := &uploader{k: k, byName: map[string]*checkpoint.Tensor{}}
	for name, t := range byName {
		if n, ok := strings.CutPrefix(name, "decoder."); ok {
			du.byName[n] = t
		}
	}
	c.decIn = du.mat("in_proj")
	c.decStack = uploadStack(du, dec)
	c.decStack.makeActs(du, 1)
	c.head = du.mat("head")
	u.bufs, u.err = append(u.bufs, du.bufs...), errors.Join(u.err, du.err)

	f := model.TimeFrequencies(den.Dim)
	turns := make([]float32, len(f))
	for i, w := range f {
		turns[i] = float32(w / (2 * math.Pi))
	}
	c.freqs = u.keep(k.upload("time freqs", f32Bytes(turns)))
	L, Z, D, V := den.SeqLen, den.Latent, den.Dim, dec.Vocab
	c.z, c.est, c.raw, c.noise, c.clean = u.act("z", L*Z), u.act("est", L*Z), u.act("raw", L*Z), u.act("noise", L*Z), u.act("clean", L*Z)
	c.known, c.t = u.act("known", L), u.act("t", L)
	c.in = u.act("in", L*2*Z)
	c.temb, c.cond = u.act("temb", L*D), u.act("cond", L*D)
	c.logits, c.cand = u.act("logits", L*V), u.act("cand", L*4)
	c.estRead = u.keep(k.staging("est read", 4*L*Z))
	c.logitsRead = u.keep(k.staging("logits read", 4*L*V))
	c.candRead = u.keep(k.staging("cand read", 4*L*4))
	c.bufs = u.bufs
	if u.err != nil {
		c.destroyBuffers()
		return nil, u.err
	}
	err := c.chooseMatmul(L, func(L int) ([]step, error) {
		p, err := c.record(L)
		if err != nil {
			return nil, err
		}
		return append(p.denoise[:len(p.denoise):len(p.denoise)], p.decode...), nil
	}, measure)
	// Compile every pipeline now, so that shader errors surface here.
	if err == nil {
		_, err = c.plan(1)
	}
	if err != nil {
		c.destroyBuffers()
		return nil, err
	}
	return c, nil
}

// plan returns the recorded work for L rows.
func (c *Continuous) plan(L int) (*latentPlan, error) {
	return cached(c.plans, L, func() (*latentPlan, error) { return c.record(L) })
}

// record records the work for L rows with c.k.
func (c *Continuous) record(L int) (*latentPlan, error) {
	k := c.k
	Z, D, V := c.den.Latent, c.den.Dim, c.dec.Vocab
	s := c.denStack
	// The denoiser: in_proj on [z, previous estimate], the time MLP, the blocks with the
	// time added in each, out_proj + bias, then the known rows held (model.Denoise).
	var den recorder
	if c.den.SelfCond {
		den.add(k.concatRows(c.z, c.est, c.in, L, Z, Z))
		den.add(k.matmul(c.in, c.inProj, s.x, L, false))
	} else {
		den.add(k.matmul(c.z, c.inProj, s.x, L, false))
	}
	den.add(k.timeEmbed(c.t, c.freqs, c.temb, L, D))
	den.add(k.matmul(c.temb, c.timeW1, s.h, L, false)) // h is free until the blocks
	den.add(k.bias(s.h, c.timeB1, L*D, D, true))
	den.add(k.matmul(s.h, c.timeW2, c.cond, L, false))
	den.add(k.bias(c.cond, c.timeB2, L*D, D, false))
	den.addAll(s.steps(k, 1, L, c.cond))
	den.add(k.matmul(s.h, c.outProj, c.raw, L, false))
	den.add(k.bias(c.raw, c.outBias, L*Z, Z, false))
	den.add(k.gaussianUpdate(k.updateParams(L*Z, Z, 1, 0, 0), c.est, c.raw, c.noise, c.clean, c.known, L*Z))
	p := &latentPlan{denoise: den.steps, params: c.updateBuf(L*Z, Z)}
	var err error
	p.update, err = k.gaussianUpdate(p.params, c.z, c.est, c.noise, c.clean, c.known, L*Z)
	// The decoder: in_proj on the estimate, its blocks, the head (model.Decode).
	ds := c.decStack
	var dec recorder
	dec.add(k.matmul(c.est, c.decIn, ds.x, L, false))
	dec.addAll(ds.steps(k, 1, L, nil))
	dec.add(k.matmul(ds.h, c.head, c.logits, L, false))
	p.decode = dec.steps
	cand, cerr := k.argmaxConf(c.logits, c.cand, L, V, int(c.dec.MaskID()))
	if err := errors.Join(den.err, err, dec.err, cerr); err != nil {
		return nil, err
	}
	p.cand = cand
	return p, nil
}

// updateBuf is the update's uniform buffer for count values of rows of D: one per plan,
// its coefficients rewritten before each Update.
func (c *Continuous) updateBuf(count, D int) *webgpu.Buffer {
	b := c.k.updateParams(count, D, 0, 1, 0)
	c.bufs = append(c.bufs, b)
	return b
}

// ready checks that the GPU can take a call on the current sample.
func (c *Continuous) ready() (*latentPlan, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if c.L == 0 {
		return nil, errors.New("gpu: no sample begun")
	}
	return c.plan(c.L)
}

// Begin uploads a sample's latents, clean latents and known rows and zeroes the estimate.
func (c *Continuous) Begin(z, clean []float32, known []bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	L, Z := len(known), c.den.Latent
	if L == 0 || L > c.den.SeqLen || len(z) != L*Z || len(clean) != L*Z {
		return fmt.Errorf("gpu: Begin with %d latents and %d clean for %d rows of %d (window %d)", len(z), len(clean), L, Z, c.den.SeqLen)
	}
	if err := c.usable(); err != nil {
		return err
	}
	if _, err := c.plan(L); err != nil {
		return err
	}
	words := make([]uint32, L)
	for i, k := range known {
		if k {
			words[i] = 1
		}
	}
	held := append([]float32(nil), z...)
	for i, k := range known {
		if k {
			copy(held[i*Z:(i+1)*Z], clean[i*Z:(i+1)*Z])
		}
	}
	dev := c.k.dev
	dev.WriteBuffer(c.z, 0, f32Bytes(held))
	dev.WriteBuffer(c.clean, 0, f32Bytes(clean))
	dev.WriteBuffer(c.known, 0, u32Bytes(words))
	dev.WriteBuffer(c.est, 0, make([]byte, 4*L*Z))
	c.L = L
	return nil
}

// Denoise runs the denoiser at the rows' times t and makes its output the estimate.
func (c *Continuous) Denoise(t []float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.ready()
	if err != nil {
		return err
	}
	if len(t) != c.L {
		return fmt.Errorf("gpu: %d times for %d rows", len(t), c.L)
	}
	c.k.dev.WriteBuffer(c.t, 0, f32Bytes(t))
	return c.submit(p.denoise)
}

// Update moves z to c0 est + ct z + sd noise, the known rows held.
func (c *Continuous) Update(c0, ct, sd float32, noise []float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.ready()
	if err != nil {
		return err
	}
	if sd != 0 {
		if len(noise) != c.L*c.den.Latent {
			return fmt.Errorf("gpu: %d noise values for %d latents", len(noise), c.L*c.den.Latent)
		}
		c.k.dev.WriteBuffer(c.noise, 0, f32Bytes(noise))
	}
	c.k.setUpdate(p.params, c0, ct, sd)
	return c.submit([]step{p.update})
}

// Estimate reads the current estimate (L, Z).
func (c *Continuous) Estimate() ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.ready(); err != nil {
		return nil, err
	}
	return c.read("the estimate", nil, c.est, c.estRead, c.L*c.den.Latent)
}

// Tokens decodes the estimate on the GPU and reads back each row's most likely token
// other than MASK (ties to the smaller id): 16 bytes a row.
func (c *Continuous) Tokens() ([]int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.ready()
	if err != nil {
		return nil, err
	}
	L := c.L
	steps := append(p.decode[:len(p.decode):len(p.decode)], p.cand)
	if err := c.submit(steps, copyOp{c.cand, c.candRead, 16 * L}); err != nil {
		return nil, err
	}
	words := make([]uint32, 4*L)
	if err := c.k.dev.ReadBuffer(c.candRead, u32Bytes(words)); err != nil {
		return nil, fmt.Errorf("gpu: reading tokens: %w", err)
	}
	ids := make([]int32, L)
	for i := range ids {
		ids[i] = int32(words[4*i])
	}
	return ids, nil
}

// Logits is the decoder's logits (L, V) of the estimate, for the self-test.
func (c *Continuous) Logits() ([]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.ready()
	if err != nil {
		return nil, err
	}
	return c.read("logits", p.decode, c.logits, c.logitsRead, c.L*c.dec.Vocab)
}

var _ continuous.Backend = (*Continuous)(nil)
