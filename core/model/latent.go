package model

import (
	"math"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// The continuous paradigm's two networks (Config.Latent > 0) are this Transformer with
// other ends: the denoiser reads noisy latents (and its previous estimate) plus a time per
// row and writes an estimate of the clean latents; the decoder reads latents and writes
// logits. Both run the same blocks as the masked model (BlocksForward), so every kernel,
// backend and gradient check of the blocks serves them too.

// latentActs is what a latent pass keeps for its backward.
type latentActs struct {
	N      int
	in     []float32 // (N, In) the input rows: latent, then the previous estimate (SelfCond)
	x      []float32 // (N, D) in_proj's output, the blocks' input
	temb   []float32 // (N, D) sinusoidal time features
	th     []float32 // (N, D) time_w1 temb + time_b1 (pre-activation)
	ts     []float32 // (N, D) silu(th)
	cond   []float32 // (N, D) time_w2 ts + time_b2: added in every block
	out    []float32 // (N, Latent) the denoiser's estimate
	dts    []float32 // (N, D) gradient scratch
	logits bool      // the last latent pass was the decoder's
}

func (m *Model) latent(N int) *latentActs {
	if a := m.lat; a != nil && a.N == N {
		return a
	}
	c := m.Cfg
	f := func(n int) []float32 { return make([]float32, n) }
	a := &latentActs{N: N, in: f(N * c.inWidth()), x: f(N * c.Dim)}
	if c.Denoiser {
		a.temb, a.th, a.ts, a.cond, a.out, a.dts = f(N*c.Dim), f(N*c.Dim), f(N*c.Dim), f(N*c.Dim), f(N*c.Latent), f(N*c.Dim)
	}
	m.lat = a
	return a
}

// TimeFeatures writes the sinusoidal features of times t (N) into dst (N, D): for
// i < D/2, sin(1000 t w_i) and cos(1000 t w_i) with w_i = 10000^(-i/(D/2)), the
// Transformer's position code read at 1000 t (DDPM's time embedding, with t in [0,1]).
func TimeFeatures(dst []float32, t []float32, D int) {
	h := D / 2
	f := TimeFrequencies(D)
	for r, tv := range t {
		row := dst[r*D : (r+1)*D]
		for i := 0; i < h; i++ {
			s, c := math.Sincos(float64(tv) * f[i])
			row[i], row[h+i] = float32(s), float32(c)
		}
	}
}

// TimeFrequencies are TimeFeatures' angular frequencies 1000 w_i, i < D/2 (radians per
// unit time), for the backends that compute the features themselves.
func TimeFrequencies(D int) []float64 {
	h := D / 2
	f := make([]float64, h)
	for i := range f {
		f[i] = 1000 * math.Exp(-math.Log(10000)*float64(i)/float64(h))
	}
	return f
}

// Denoise runs the denoiser on B sequences: z (B*L, Latent) the noisy latents, sc
// (B*L, Latent) the previous estimate of the clean ones (nil: zeros; ignored without
// SelfCond), t (B*L) each row's time (a prompt's clean rows have t = 0). It returns the
// estimate of the clean latents (B*L, Latent), a view valid until the next pass.
func (m *Model) Denoise(z, sc, t []float32, B int) []float32 {
	c := m.Cfg
	if !c.Denoiser {
		panic("model: Denoise on a network that is not a denoiser")
	}
	Z := c.Latent
	if B <= 0 || len(z)%(B*Z) != 0 || len(t) != len(z)/Z || (sc != nil && len(sc) != len(z)) {
		panic("model: Denoise shapes disagree")
	}
	N, D, In := len(z)/Z, c.Dim, c.inWidth()
	a := m.latent(N)
	m.gatherInput(a, z, sc)
	nn.Linear(a.x, a.in, m.W.InProj, N, In, D)
	TimeFeatures(a.temb, t, D)
	nn.Linear(a.th, a.temb, m.W.TimeW1, N, D, D)
	addBias(a.th, m.W.TimeB1)
	for i, v := range a.th {
		a.ts[i] = v * sigmoid(v)
	}
	nn.Linear(a.cond, a.ts, m.W.TimeW2, N, D, D)
	addBias(a.cond, m.W.TimeB2)
	h := m.BlocksForward(a.x, B, a.cond)
	nn.Linear(a.out, h, m.W.OutProj, N, D, Z)
	addBias(a.out, m.W.OutBias)
	a.logits = false
	return a.out
}

// DenoiseBackward adds to Grads the gradient of a loss whose gradient with respect to the
// last Denoise's estimate is dout (B*L, Latent). The inputs z and sc get none: the noisy
// latents are data and the previous estimate is held fixed (stop-gradient, as TEncDM).
func (m *Model) DenoiseBackward(dout []float32) {
	a := m.lat
	if a == nil || a.logits || m.Grads == nil {
		panic("model: DenoiseBackward without a Denoise pass on a trainable model")
	}
	c := m.Cfg
	N, D, Z := a.N, c.Dim, c.Latent
	act := m.trainable()
	dh := act.dh // free until BlocksBackward copies into it
	clear(dh)
	nn.LinearBackward(dh, m.G.OutProj, dout, act.hf, m.W.OutProj, N, D, Z)
	biasBackward(m.G.OutBias, dout, Z)
	dx, dcond := m.BlocksBackward(dh)
	// The time MLP: cond = W2 silu(W1 temb + b1) + b2.
	biasBackward(m.G.TimeB2, dcond, D)
	clear(a.dts)
	nn.LinearBackward(a.dts, m.G.TimeW2, dcond, a.ts, m.W.TimeW2, N, D, D)
	for i, v := range a.th {
		s := sigmoid(v)
		a.dts[i] *= s * (1 + v*(1-s)) // silu'(v)
	}
	biasBackward(m.G.TimeB1, a.dts, D)
	nn.LinearBackward(nil, m.G.TimeW1, a.dts, a.temb, m.W.TimeW1, N, D, D)
	nn.LinearBackward(nil, m.G.InProj, dx, a.in, m.W.InProj, N, c.inWidth(), D)
}

// Decode runs the decoder on B sequences of latents z (B*L, Latent) and returns the logits
// (B*L, V), a view valid until the next pass.
func (m *Model) Decode(z []float32, B int) []float32 {
	c := m.Cfg
	if c.Latent == 0 || c.Denoiser {
		panic("model: Decode on a network that is not a decoder")
	}
	if B <= 0 || len(z)%(B*c.Latent) != 0 {
		panic("model: Decode shapes disagree")
	}
	N := len(z) / c.Latent
	a := m.latent(N)
	copy(a.in, z)
	nn.Linear(a.x, a.in, m.W.InProj, N, c.Latent, c.Dim)
	m.BlocksForward(a.x, B, nil)
	a.logits = true
	return m.headForward(m.act, nil)
}

// DecodeBackward adds to Grads the gradient of a loss whose gradient with respect to the
// last Decode's logits is dlogits (B*L, V).
func (m *Model) DecodeBackward(dlogits []float32) {
	a := m.lat
	if a == nil || !a.logits {
		panic("model: DecodeBackward without a Decode pass")
	}
	act := m.trainable()
	m.headBackward(act, dlogits)
	m.blocksBackward(act)
	nn.LinearBackward(nil, m.G.InProj, act.dx, a.in, m.W.InProj, a.N, m.Cfg.Latent, m.Cfg.Dim)
}

// gatherInput writes the input rows: z's row, then (SelfCond) sc's row or zeros.
func (m *Model) gatherInput(a *latentActs, z, sc []float32) {
	c := m.Cfg
	if !c.SelfCond {
		copy(a.in, z)
		return
	}
	Z := c.Latent
	for r := 0; r < a.N; r++ {
		row := a.in[r*2*Z : (r+1)*2*Z]
		copy(row[:Z], z[r*Z:(r+1)*Z])
		if sc == nil {
			clear(row[Z:])
		} else {
			copy(row[Z:], sc[r*Z:(r+1)*Z])
		}
	}
}

// addBias adds b (n) to every row of x (rows, n).
func addBias(x, b []float32) {
	n := len(b)
	for r := 0; r < len(x); r += n {
		nn.Add(x[r:r+n], x[r:r+n], b)
	}
}

// biasBackward adds to db (n) the sum of dout's rows (rows, n).
func biasBackward(db, dout []float32, n int) {
	for r := 0; r < len(dout); r += n {
		nn.Add(db, db, dout[r:r+n])
	}
}

func sigmoid(x float32) float32 { return 1 / (1 + float32(math.Exp(float64(-x)))) }
