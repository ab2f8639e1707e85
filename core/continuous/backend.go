package continuous

import (
	"errors"
	"fmt"
)

// Backend holds one sample's latents where its networks run (the CPU: CPUBackend; a GPU:
// wasm/gpu) and does the work of the reverse process there. The sampler (SampleOn) owns
// the loop, the time grid, the update's coefficients and the random numbers, so every
// backend runs the same process on the same noise; a backend only does arithmetic.
type Backend interface {
	// Begin starts a sample of L = len(known) positions: z (L, D) the latents at t = 1,
	// clean (L, D) the clean latents that the known rows hold throughout. The previous
	// estimate (self-conditioning's input) starts at zero.
	Begin(z, clean []float32, known []bool) error
	// Denoise runs the denoiser on z, the previous estimate and the rows' times t (L),
	// and makes its output, with the known rows held, the current estimate.
	Denoise(t []float32) error
	// Update moves z to c0 est + ct z + sd noise, then holds the known rows; noise (L, D)
	// is nil when sd is 0.
	Update(c0, ct, sd float32, noise []float32) error
	// Estimate reads the current estimate (L, D).
	Estimate() ([]float32, error)
	// Tokens decodes the current estimate: per row, the decoder's most likely token other
	// than MASK (the last id), ties to the smaller id.
	Tokens() ([]int32, error)
}

// CPUBackend is the Backend of the model's own networks.
type CPUBackend struct {
	m                       *Model
	z, est, clean           []float32
	known                   []bool
	started, selfCondActive bool
	noSelfCond              bool // Options.NoSelfCond: the previous estimate stays zero
}

// CPU returns the model's CPU backend.
func (m *Model) CPU() *CPUBackend { return &CPUBackend{m: m} }

func (c *CPUBackend) Begin(z, clean []float32, known []bool) error {
	D := c.m.Space.D()
	if len(z) != len(known)*D || len(clean) != len(z) {
		return fmt.Errorf("continuous: Begin with %d latents and %d clean for %d rows of %d", len(z), len(clean), len(known), D)
	}
	c.z = append(c.z[:0], z...)
	c.clean = append(c.clean[:0], clean...)
	c.known = append(c.known[:0], known...)
	c.est = append(c.est[:0], make([]float32, len(z))...)
	c.started, c.selfCondActive = true, false
	hold(c.z, c.clean, c.known, D)
	return nil
}

func (c *CPUBackend) Denoise(t []float32) error {
	if !c.started {
		return errors.New("continuous: Denoise before Begin")
	}
	if len(t) != len(c.known) {
		return fmt.Errorf("continuous: %d times for %d rows", len(t), len(c.known))
	}
	var sc []float32 // nil on the first call: the denoiser reads zeros
	if c.selfCondActive {
		sc = c.est
	}
	copy(c.est, c.m.Denoiser.Denoise(c.z, sc, t, 1))
	hold(c.est, c.clean, c.known, c.m.Space.D())
	c.selfCondActive = !c.noSelfCond
	return nil
}

func (c *CPUBackend) Update(c0, ct, sd float32, noise []float32) error {
	if !c.started {
		return errors.New("continuous: Update before Begin")
	}
	if sd != 0 && len(noise) != len(c.z) {
		return fmt.Errorf("continuous: %d noise values for %d latents", len(noise), len(c.z))
	}
	for i := range c.z {
		v := c0*c.est[i] + ct*c.z[i]
		if sd != 0 {
			v += sd * noise[i]
		}
		c.z[i] = v
	}
	hold(c.z, c.clean, c.known, c.m.Space.D())
	return nil
}

func (c *CPUBackend) Estimate() ([]float32, error) { return append([]float32(nil), c.est...), nil }

func (c *CPUBackend) Tokens() ([]int32, error) {
	if !c.started {
		return nil, errors.New("continuous: Tokens before Begin")
	}
	return c.m.Tokens(c.est), nil
}

// Logits is the decoder's logits (L, V) of the current estimate, a view valid until the
// next call (for the GPU's self-test).
func (c *CPUBackend) Logits() []float32 { return c.m.Decoder.Decode(c.est, 1) }

var _ Backend = (*CPUBackend)(nil)
