//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu"
	"github.com/austen-diffusion/textdiffusion/wasm/gpu/webgpu"
)

// gpuDenoiser adapts gpu.Denoiser to engine.GPU.
type gpuDenoiser struct{ *gpu.Denoiser }

func (g gpuDenoiser) Name() string { return g.AdapterName() }

// openGPU uploads the model's tensors as stored (quantised matrices stay quantised) to a
// WebGPU device.
func openGPU(f *checkpoint.File, cfg model.Config) (engine.GPU, error) {
	d, err := gpu.Open(f, cfg)
	if errors.Is(err, webgpu.ErrNoWebGPU) {
		return nil, errors.New("no WebGPU adapter")
	}
	if err != nil {
		return nil, err
	}
	opened = d
	return gpuDenoiser{d}, nil
}

// opened is the last GPU denoiser opened, for loseGPU.
var opened *gpu.Denoiser

// loseGPU destroys the GPU device, as a browser does when it reclaims the GPU, so that
// the page tests can check what survives it (site/worker.js calls it only when the page
// was opened with ?testhooks=1).
func loseGPU(js.Value, []js.Value) any {
	if opened != nil {
		opened.LoseDevice()
	}
	return nil
}
