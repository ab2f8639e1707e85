package train

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// The continuous paradigm (TEncDM) trains two networks on the latents of a frozen encoder
// (Trainer.Space): "continuous" the denoiser, by the MSE of its estimate of the clean
// latents from z_t, t ~ U[0,1]; "decoder" the decoder, by the cross-entropy of the tokens
// from slightly noised latents, t ~ U[0, DecoderTMax]. Each checkpoint carries the encoder
// and its statistics (and the decoder, once given), so a run resumes and samples from its
// files alone.

// latentMSE is the denoiser's objective.
type latentMSE struct{}

func (latentMSE) Name() string     { return "continuous" }
func (latentMSE) Causal() bool     { return false }
func (latentMSE) Window(L int) int { return L }
func (latentMSE) Bound() bool      { return false }
func (latentMSE) Label() string    { return "continuous diffusion: denoising MSE per latent value" }

func (latentMSE) Check(c Config) error {
	if c.Model.Latent == 0 || !c.Model.Denoiser {
		return errors.New("the continuous objective trains a denoiser: model.latent > 0 and model.denoiser")
	}
	if c.Prompted < 0 || c.Prompted > 1 {
		return fmt.Errorf("prompted %g: want a share in [0, 1]", c.Prompted)
	}
	_, err := c.NoiseSchedule()
	return err
}

// latentDraw is one step's random choices for every sequence of the batch: its time, its
// noise stream, whether it is self-conditioned, and the clean rows of a prompt (a prefix
// and a suffix, in TEncDM's terms the condition) that it keeps.
type latentDraw struct {
	t              []float64
	seed           []uint64
	sc             []bool
	prefix, suffix []int
	noisy          int // rows of the whole batch that are noised (the loss's normaliser)
}

func drawLatent(rng *rand.Rand, B, L int, tLo, tHi, prompted float64, selfCond bool) latentDraw {
	d := latentDraw{t: make([]float64, B), seed: make([]uint64, B), sc: make([]bool, B), prefix: make([]int, B), suffix: make([]int, B)}
	continuous.UniformTimes(d.t, tLo, tHi, rng)
	for b := range B {
		d.seed[b] = rng.Uint64()
		d.sc[b] = selfCond && rng.Float64() < 0.5
		if rng.Float64() < prompted {
			// Known text on either side of a gap of at least one position.
			d.prefix[b] = rng.IntN(L)
			d.suffix[b] = rng.IntN(L - d.prefix[b])
		}
		d.noisy += L - d.prefix[b] - d.suffix[b]
	}
	return d
}

// clean reports whether row i of sequence b is a kept prompt row.
func (d latentDraw) clean(b, i, L int) bool { return i < d.prefix[b] || i >= L-d.suffix[b] }

// latentBufs are the objectives' scratch, sized on first use.
type latentBufs struct {
	z0, zt, sc, dout []float32
	rowT             []float32
}

func (t *Trainer) latentBufs(N, Z int) *latentBufs {
	b := t.lat
	if b == nil || len(b.z0) != N*Z {
		f := func(n int) []float32 { return make([]float32, n) }
		b = &latentBufs{z0: f(N * Z), zt: f(N * Z), sc: f(N * Z), dout: f(N * Z), rowT: f(N)}
		t.lat = b
	}
	return b
}

// noised encodes rows [lo, hi) of x0 (B, L) and writes their z_t under the draw: each
// sequence's own noise stream, its prompt rows clean with time 0.
func (t *Trainer) noised(x0 []int32, lo, hi int, d latentDraw) *latentBufs {
	if t.Space == nil {
		panic("train: a continuous objective without Trainer.Space (SetSpace)")
	}
	L, Z := t.Cfg.Model.SeqLen, t.Space.D()
	n := hi - lo
	bufs := t.latentBufs(n*L, Z)
	t.Space.Encode(bufs.z0, x0[lo*L:hi*L], n)
	sched, _ := t.Cfg.NoiseSchedule()
	for b := lo; b < hi; b++ {
		i := b - lo
		rows := bufs.z0[i*L*Z : (i+1)*L*Z]
		out := bufs.zt[i*L*Z : (i+1)*L*Z]
		continuous.Noise(out, nil, rows, d.t[b:b+1], Z, sched, rand.New(rand.NewPCG(d.seed[b], 0x7a)))
		for r := range L {
			bufs.rowT[i*L+r] = float32(d.t[b])
			if d.clean(b, r, L) {
				copy(out[r*Z:(r+1)*Z], rows[r*Z:(r+1)*Z])
				bufs.rowT[i*L+r] = 0
			}
		}
	}
	return bufs
}

// estimate runs the denoiser on the noised rows, first (for the sequences the draw
// self-conditions) a pass without gradient whose estimate is fed back as the second
// pass's extra input, and returns the second pass's estimate.
func (t *Trainer) estimate(bufs *latentBufs, lo, hi int, d latentDraw) []float32 {
	n, L, Z := hi-lo, t.Cfg.Model.SeqLen, t.Cfg.Model.Latent
	var sc []float32
	any := false
	for b := lo; b < hi; b++ {
		any = any || d.sc[b]
	}
	if any {
		first := t.Model.Denoise(bufs.zt, nil, bufs.rowT, n)
		sc = bufs.sc
		for b := lo; b < hi; b++ {
			i := b - lo
			if d.sc[b] {
				copy(sc[i*L*Z:(i+1)*L*Z], first[i*L*Z:(i+1)*L*Z])
			} else {
				clear(sc[i*L*Z : (i+1)*L*Z])
			}
		}
	}
	return t.Model.Denoise(bufs.zt, sc, bufs.rowT, n)
}

// Loss is the mean squared error over the noised rows of the whole batch (prompt rows are
// given, not estimated), scaled so the ranks' mean is the batch's.
func (latentMSE) Loss(t *Trainer, x0 []int32, lo, hi int, rng *rand.Rand, grad bool) float64 {
	c := t.Cfg
	L, Z := c.Model.SeqLen, c.Model.Latent
	B := len(x0) / L
	d := drawLatent(rng, B, L, 0, 1, c.Prompted, c.Model.SelfCond)
	bufs := t.noised(x0, lo, hi, d)
	out := t.estimate(bufs, lo, hi, d)
	// This rank's share of the batch's mean: its sum over the whole batch's noised values,
	// times the ranks (B/n), so that the ranks' mean is the batch's.
	scale := float64(B) / float64(hi-lo) / float64(d.noisy*Z)
	var sum float64
	for b := lo; b < hi; b++ {
		i := b - lo
		for r := range L {
			o := (i*L + r) * Z
			if d.clean(b, r, L) {
				clear(bufs.dout[o : o+Z])
				continue
			}
			for j := o; j < o+Z; j++ {
				e := out[j] - bufs.z0[j]
				sum += float64(e * e)
				bufs.dout[j] = float32(2 * scale * float64(e))
			}
		}
	}
	if grad {
		t.Model.DenoiseBackward(bufs.dout)
	}
	return sum * scale
}

// ValidSum is the MSE at times and noise fixed by (seed, k), with no prompt rows and, for
// a self-conditioned denoiser, its first estimate fed back as in sampling.
func (latentMSE) ValidSum(t *Trainer, buf, _ []int32, k int) float64 {
	L, Z := t.Cfg.Model.SeqLen, t.Cfg.Model.Latent
	b := len(buf) / L
	d := drawLatent(rand.New(rand.NewPCG(t.Cfg.Seed, uint64(k))), b, L, 0, 1, 0, false)
	for i := range d.sc {
		d.sc[i] = t.Cfg.Model.SelfCond
	}
	bufs := t.noised(buf, 0, b, d)
	out := t.estimate(bufs, 0, b, d)
	var sum float64
	for j, v := range out {
		e := float64(v - bufs.z0[j])
		sum += e * e
	}
	return sum / float64(Z) // per position (the caller divides by positions)
}

func (latentMSE) Record(t *Trainer, f *checkpoint.File) error { return t.attachSpace(f) }

func (latentMSE) Restore(t *Trainer, f *checkpoint.File) error { return t.restoreSpace(f) }

// latentDecoder is the decoder's objective.
type latentDecoder struct{}

func (latentDecoder) Name() string     { return "decoder" }
func (latentDecoder) Causal() bool     { return false }
func (latentDecoder) Window(L int) int { return L }
func (latentDecoder) Bound() bool      { return false }
func (latentDecoder) Label() string {
	return "continuous diffusion's decoder: token cross-entropy from noised latents (nats)"
}

func (latentDecoder) Check(c Config) error {
	if c.Model.Latent == 0 || c.Model.Denoiser {
		return errors.New("the decoder objective trains a decoder: model.latent > 0, not a denoiser")
	}
	if c.DecoderTMax < 0 || c.DecoderTMax >= 1 {
		return fmt.Errorf("decoder_t_max %g: want 0 (clean latents) up to below 1", c.DecoderTMax)
	}
	_, err := c.NoiseSchedule()
	return err
}

func (latentDecoder) Loss(t *Trainer, x0 []int32, lo, hi int, rng *rand.Rand, grad bool) float64 {
	c := t.Cfg
	L := c.Model.SeqLen
	d := drawLatent(rng, len(x0)/L, L, 0, c.DecoderTMax, 0, false)
	return t.decoderLoss(x0, lo, hi, d, grad)
}

func (t *Trainer) decoderLoss(x0 []int32, lo, hi int, d latentDraw, grad bool) float64 {
	L := t.Cfg.Model.SeqLen
	n := hi - lo
	bufs := t.noised(x0, lo, hi, d)
	return t.crossEntropy(t.Model.Decode(bufs.zt, n), x0[lo*L:hi*L], grad, t.Model.DecodeBackward)
}

// ValidSum is the cross-entropy at times and noise fixed by (seed, k).
func (latentDecoder) ValidSum(t *Trainer, buf, _ []int32, k int) float64 {
	L := t.Cfg.Model.SeqLen
	b := len(buf) / L
	d := drawLatent(rand.New(rand.NewPCG(t.Cfg.Seed, uint64(k))), b, L, 0, t.Cfg.DecoderTMax, 0, false)
	return t.decoderLoss(buf, 0, b, d, false) * float64(b*L)
}

func (latentDecoder) Record(t *Trainer, f *checkpoint.File) error { return t.attachSpace(f) }

func (latentDecoder) Restore(t *Trainer, f *checkpoint.File) error { return t.restoreSpace(f) }

// SetSpace gives a continuous run its latent space and, for the denoiser, the decoder that
// its files carry (nil: none yet).
func (t *Trainer) SetSpace(sp *continuous.Space, dec *model.Model) error {
	c := t.Cfg
	if sp.D() != c.Model.Latent {
		return fmt.Errorf("the encoder's latents are %d wide, the network reads %d", sp.D(), c.Model.Latent)
	}
	if c.Latents != "" && sp.Kind != c.Latents {
		return fmt.Errorf("the run's latents are %s, the space's %s", c.Latents, sp.Kind)
	}
	if dec != nil && (dec.Cfg.Latent != sp.D() || dec.Cfg.Denoiser) {
		return fmt.Errorf("the decoder does not read latents %d wide", sp.D())
	}
	t.Space, t.Decoder = sp, dec
	return nil
}

func (t *Trainer) attachSpace(f *checkpoint.File) error {
	sched, err := t.Cfg.NoiseSchedule()
	if err != nil {
		return err
	}
	var dec *model.Model
	if t.Cfg.Objective == "continuous" {
		dec = t.Decoder
	}
	return continuous.Attach(f, t.Space, sched, dec)
}

func (t *Trainer) restoreSpace(f *checkpoint.File) error {
	sp, _, err := continuous.SpaceFromFile(f, nil)
	if err != nil {
		return err
	}
	var dec *model.Model
	if _, ok := f.Notes[continuous.DecoderNote]; ok && t.Cfg.Objective == "continuous" {
		if cm, err := continuous.Open(f); err == nil {
			dec = cm.Decoder
		} else {
			return err
		}
	}
	return t.SetSpace(sp, dec)
}

// NoiseSchedule is a continuous run's forward-process schedule (tan-d with d = TanD, 9
// when 0, unless NoiseScheduleName says cosine or sqrt).
func (c Config) NoiseSchedule() (continuous.Schedule, error) {
	name, d := c.NoiseScheduleName, c.TanD
	if name == "" {
		name = "tan-d"
	}
	if d == 0 {
		d = 9
	}
	return continuous.ScheduleByName(name, d)
}
