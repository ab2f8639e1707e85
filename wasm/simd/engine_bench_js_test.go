//go:build js && wasm

package simd

import (
	"context"
	"os"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkSampleSIMD is core/engine's sampling benchmark on this kernel, the browser's
// CPU path:
//
//	GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" -run '^$' -bench Sample -benchtime 3x ./wasm/simd
func BenchmarkSampleSIMD(b *testing.B) {
	data, err := os.ReadFile("../../weights/austen-mdm.q8_0.ckpt")
	if err != nil {
		b.Skipf("no release weights: %v", err)
	}
	k := load(b)
	blas.Use(k, "wasm-simd")
	nn.UseKernels(k.Kernels())
	defer blas.Use(gonum.Implementation{}, "gonum")
	defer nn.UseKernels(nn.Kernels{})
	e, err := engine.Load(data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		out, err := e.Sample(context.Background(), engine.BenchRequest, nil)
		if err != nil {
			b.Fatal(err)
		}
		tokens += out.Tokens
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}
