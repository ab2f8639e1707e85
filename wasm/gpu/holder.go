//go:build js && wasm

package gpu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// holder is what a model on the GPU (Denoiser, Continuous) holds besides its own work: the
// device and its compiled kernels, the buffers it made and a lock, since its calls block
// on the GPU one at a time.
type holder struct {
	mu        sync.Mutex
	k         *kernels     // records the model's work; after a timed load, a copy with the chosen matmul kernel
	matmul    MatmulChoice // why k has its matmul kernel
	info      webgpu.AdapterInfo
	bufs      []*webgpu.Buffer // every buffer made, destroyed by Close
	acts      []*webgpu.Buffer // activations that a bigger batch replaces; Close destroys them too
	ownDevice bool             // whether Close destroys the device too
	closed    bool
}

// withDevice opens a device on the browser's adapter and builds a model on it; the model
// owns the device (its Close destroys it), or the device goes when build fails. It returns
// webgpu.ErrNoWebGPU (wrapped) when the browser offers no adapter.
func withDevice[M interface{ own() }](build func(*kernels, webgpu.AdapterInfo) (M, error)) (M, error) {
	var none M
	ad, err := webgpu.RequestAdapter()
	if err != nil {
		return none, fmt.Errorf("gpu: %w", err)
	}
	dev, err := ad.RequestDevice(deviceLimits(ad))
	if err != nil {
		return none, fmt.Errorf("gpu: %w", err)
	}
	m, err := build(newKernels(dev), ad.Info())
	if err != nil {
		dev.Destroy()
		return none, err
	}
	m.own()
	return m, nil
}

func (h *holder) own() { h.ownDevice = true }

// AdapterInfo describes the GPU (for the UI: software adapters are slow).
func (h *holder) AdapterInfo() webgpu.AdapterInfo { return h.info }

// AdapterName is a short name of the GPU, with "(fallback)" for a software adapter.
func (h *holder) AdapterName() string { return h.info.Name() }

// Close frees the GPU memory (and the device, if the model opened it); the model is
// unusable afterwards.
func (h *holder) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.destroyBuffers()
	if h.ownDevice {
		h.k.dev.Destroy()
	}
	h.closed = true
}

// LoseDevice destroys the device, as the browser does when it reclaims the GPU; every
// later call fails with webgpu.ErrDeviceLost. For tests of what survives that.
func (h *holder) LoseDevice() { h.k.dev.Destroy() }

func (h *holder) destroyBuffers() {
	for _, b := range append(h.bufs, h.acts...) {
		b.Destroy()
	}
	h.bufs, h.acts = nil, nil
}

// usable says why the model cannot take a call, or nil.
func (h *holder) usable() error {
	if h.closed {
		return errors.New("gpu: used after Close")
	}
	if err := h.k.dev.Lost(); err != nil {
		return fmt.Errorf("gpu: %w", err)
	}
	return nil
}

// submit runs steps and copies under an error scope and returns the first validation error.
func (h *holder) submit(steps []step, copies ...copyOp) error {
	h.k.dev.PushErrorScope("validation")
	h.k.run(steps, copies...)
	if err := h.k.dev.PopErrorScope(); err != nil {
		return fmt.Errorf("gpu: forward pass: %w", err)
	}
	return nil
}

// read runs steps, copies the first n float32s of src out through staging and returns them.
func (h *holder) read(what string, steps []step, src, staging *webgpu.Buffer, n int) ([]float32, error) {
	out := make([]float32, n)
	if err := h.readInto(out, what, steps, src, staging); err != nil {
		return nil, err
	}
	return out, nil
}

// readInto is read into dst, len(dst) float32s.
func (h *holder) readInto(dst []float32, what string, steps []step, src, staging *webgpu.Buffer) error {
	if err := h.submit(steps, copyOp{src, staging, 4 * len(dst)}); err != nil {
		return err
	}
	if err := h.k.dev.ReadBuffer(staging, f32Bytes(dst)); err != nil {
		return fmt.Errorf("gpu: reading %s: %w", what, err)
	}
	return nil
}

// recorder collects recorded steps, keeping the first error.
type recorder struct {
	steps []step
	err   error
}

func (r *recorder) add(s step, err error) { r.addAll([]step{s}, err) }

func (r *recorder) addAll(s []step, err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
	r.steps = append(r.steps, s...)
}

// cached returns m[key], recording it with record (and keeping it) the first time.
func cached[K comparable, P any](m map[K]P, key K, record func() (P, error)) (P, error) {
	if p, ok := m[key]; ok {
		return p, nil
	}
	p, err := record()
	if err == nil {
		m[key] = p
	}
	return p, err
}
