//go:build js && wasm

package gpu

import (
	"fmt"
	"time"
)

// MatmulChoice is which matmul shaders a model runs (see matmulKernel) and why.
type MatmulChoice struct {
	Kernel string // "registers" or "tiled"
	// Seconds is each kernel's time at load for one forward pass over Positions positions,
	// the fastest of its passes; empty when the kernel was set, not timed.
	Seconds   map[string]float64
	Positions int
}

// timedPositions is the length of the forward pass timed at load (or the model's window,
// if shorter): one tile of rows of the tiled kernel, so that it wastes none, between the
// page's default sample (about 40 positions) and the demo model's full window of 128. On
// SwiftShader, where a sample that asks for the GPU waits for this, a 64-position pass of
// the demo model took about 0.6 s (register kernel) and 2 s (tiled) against 0.65-0.85 s
// and 2.2-2.8 s for 128 (shared machine).
const timedPositions = 64

// matmulPasses is how many forward passes each kernel runs at load, the two kernels in
// turn; each one's fastest counts, so that one pause (a collection, a compile left to the
// first dispatch) does not decide. A kernel whose pass took over a slowPass and over
// hopeless times the other's best runs no more: a pause that long and that large would be
// needed to change the choice, and on SwiftShader a tiled pass of the demo model takes
// seconds.
const (
	matmulPasses = 2
	hopeless     = 2
	slowPass     = 250 * time.Millisecond
)

// measureFunc times one run of steps, a forward pass recorded with k, on the GPU.
type measureFunc func(k *kernels, steps []step) (time.Duration, error)

// timePass is the measureFunc of a real load: it runs steps and waits for the GPU.
func timePass(k *kernels, steps []step) (time.Duration, error) {
	t0 := time.Now()
	k.dev.PushErrorScope("validation")
	k.run(steps)
	done := k.dev.Done()
	if err := k.dev.PopErrorScope(); err != nil {
		return 0, err
	}
	return time.Since(t0), done
}

// chooseMatmul records a model's forward pass over timedPositions positions (at most
// window) with each matmul kernel (record(L), which records with h.k), times the passes
// with measure and leaves h.k on the faster kernel (the register one on a tie) and
// h.matmul saying so. A nil measure keeps h.k's kernel untimed.
func (h *holder) chooseMatmul(window int, record func(L int) ([]step, error), measure measureFunc) error {
	if measure == nil {
		h.matmul = MatmulChoice{Kernel: h.k.mm.String()}
		return nil
	}
	base, L := h.k, min(window, timedPositions)
	both := []matmulKernel{registerMatmul, tiledMatmul}
	var ks [2]*kernels
	var steps [2][]step
	for _, mm := range both {
		h.k = base.withMatmul(mm)
		s, err := record(L)
		if err != nil {
			h.k = base
			return fmt.Errorf("gpu: recording the %s matmul kernel: %w", mm, err)
		}
		ks[mm], steps[mm] = h.k, s
	}
	h.k = base
	var best [2]time.Duration
	for pass := 0; pass < matmulPasses; pass++ {
		for _, mm := range both {
			if pass > 0 && best[mm] > slowPass && best[mm] > hopeless*best[1-mm] {
				continue
			}
			d, err := measure(ks[mm], steps[mm])
			if err != nil {
				return fmt.Errorf("gpu: timing the %s matmul kernel: %w", mm, err)
			}
			if pass == 0 || d < best[mm] {
				best[mm] = d
			}
		}
	}
	chosen := registerMatmul
	if best[tiledMatmul] < best[registerMatmul] {
		chosen = tiledMatmul
	}
	h.k = ks[chosen]
	h.matmul = MatmulChoice{Kernel: chosen.String(), Positions: L, Seconds: map[string]float64{
		registerMatmul.String(): best[registerMatmul].Seconds(),
		tiledMatmul.String():    best[tiledMatmul].Seconds(),
	}}
	return nil
}

// MatmulKernels is the matmul kernel the model runs and each kernel's time for one
// forward pass of positions positions at load (see MatmulChoice), for the UI.
func (h *holder) MatmulKernels() (kernel string, positions int, seconds map[string]float64) {
	return h.matmul.Kernel, h.matmul.Positions, h.matmul.Seconds
}
