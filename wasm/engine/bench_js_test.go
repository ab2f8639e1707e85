//go:build js && wasm

package engine

import (
	"syscall/js"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/wasm/simd"
)

func init() {
	plain := useBLAS
	useBLAS = func(name string) bool {
		if name != "wasm-simd" {
			return plain(name)
		}
		k, err := simd.Load(js.Global().Get("tdiffMemory")) // set by wasm/simd/testdata/node_exec.sh
		if err != nil {
			return false
		}
		blas.Use(k, "wasm-simd")
		nn.UseKernels(k.Kernels())
		return true
	}
}
