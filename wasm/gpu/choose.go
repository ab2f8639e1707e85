//go:build js && wasm

package gpu

import (
	"fmt"
	"time"
)

// MatmulChoice is which matmul shaders a model runs (see matmulKernel) and why.
type MatmulChoice struct {
	Kernel string // "registers" or "tiled"
	// Seconds is each kernel's time for one forward pass over the model's full window at
	// load, the fastest of matmulPasses; empty when the kernel was set, not timed.
	Seconds map[string]float64
}

// matmulPasses is how many forward passes each kernel runs at load. The fastest counts:
// the first pays for any compiling the browser left to the first dispatch, and one pause
// (a collection) must not decide.
const matmulPasses = 2

// measureFunc times steps, a forward pass recorded with k, on the GPU.
type measureFunc func(k *kernels, steps []step) (time.Duration, error)

// timeSteps is the measureFunc of a real load: the fastest of matmulPasses runs of steps,
// each waited for.
func timeSteps(k *kernels, steps []step) (time.Duration, error) {
	var best time.Duration
	for i := 0; i < matmulPasses; i++ {
		t0 := time.Now()
		k.dev.PushErrorScope("validation")
		k.run(steps)
		done := k.dev.Done()
		if err := k.dev.PopErrorScope(); err != nil {
			return 0, err
		}
		if done != nil {
			return 0, done
		}
		if d := time.Since(t0); i == 0 || d < best {
			best = d
		}
	}
	return best, nil
}

// chooseMatmul records a model's forward pass (record, which records with h.k) with each
// matmul kernel, times it with measure, and leaves h.k on the faster kernel (the register
// one on a tie) and h.matmul saying so. A nil measure keeps h.k's kernel untimed.
func (h *holder) chooseMatmul(record func() ([]step, error), measure measureFunc) error {
	if measure == nil {
		h.matmul = MatmulChoice{Kernel: h.k.mm.String()}
		return nil
	}
	base := h.k
	var t [2]time.Duration
	for _, mm := range []matmulKernel{registerMatmul, tiledMatmul} {
		h.k = base.withMatmul(mm)
		steps, err := record()
		if err == nil {
			t[mm], err = measure(h.k, steps)
		}
		if err != nil {
			h.k = base
			return fmt.Errorf("gpu: timing the %s matmul kernel: %w", mm, err)
		}
	}
	best := registerMatmul
	if t[tiledMatmul] < t[registerMatmul] {
		best = tiledMatmul
	}
	h.k = base.withMatmul(best)
	h.matmul = MatmulChoice{Kernel: best.String(), Seconds: map[string]float64{
		registerMatmul.String(): t[registerMatmul].Seconds(),
		tiledMatmul.String():    t[tiledMatmul].Seconds(),
	}}
	return nil
}

// MatmulKernels is the matmul kernel the model runs and each kernel's time for one
// forward pass at load (see MatmulChoice), for the UI.
func (h *holder) MatmulKernels() (kernel string, seconds map[string]float64) {
	return h.matmul.Kernel, h.matmul.Seconds
}
