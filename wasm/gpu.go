//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/sample"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// gpuDenoiser adapts gpu.Denoiser to engine.GPU. It keeps the Denoiser's BatchLogits, so
// that the engine's speculative sampler verifies a chain in one pass on the GPU.
type gpuDenoiser struct{ *gpu.Denoiser }

var _ sample.BatchDenoiser = gpuDenoiser{}

func (g gpuDenoiser) Name() string { return g.AdapterName() }

// Both report the matmul kernel they chose at load.
var (
	_ engine.KernelChooser = gpuDenoiser{}
	_ engine.KernelChooser = gpuContinuous{}
)

// gpuContinuous adapts gpu.Continuous to engine.ContinuousGPU.
type gpuContinuous struct{ *gpu.Continuous }

func (g gpuContinuous) Name() string { return g.AdapterName() }

// openGPU uploads the model's tensors as stored (quantised matrices stay quantised) to a
// WebGPU device: a continuous model's denoiser and decoder, or the masked (or AR) model.
func openGPU(f *checkpoint.File, cfg model.Config) (engine.GPU, error) {
	var g engine.GPU
	var err error
	if f.Notes["kind"] == continuous.Kind {
		var c *gpu.Continuous
		if c, err = gpu.OpenContinuous(f); err == nil {
			g, lose = gpuContinuous{c}, c.LoseDevice
		}
	} else {
		var d *gpu.Denoiser
		if d, err = gpu.Open(f, cfg); err == nil {
			g, lose = gpuDenoiser{d}, d.LoseDevice
		}
	}
	if errors.Is(err, webgpu.ErrNoWebGPU) {
		return nil, errors.New("no WebGPU adapter")
	}
	return g, err
}

// lose destroys the device of the last GPU model opened, for loseGPU.
var lose func()

// loseGPU destroys the GPU device, as a browser does when it reclaims the GPU, so that
// the page tests can check what survives it (site/worker.js calls it only when the page
// was opened with ?testhooks=1).
func loseGPU(js.Value, []js.Value) any {
	if lose != nil {
		lose()
	}
	return nil
}
