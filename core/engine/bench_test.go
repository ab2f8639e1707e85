package engine

import (
	"context"
	"os"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	gonum "gonum.org/v1/gonum/blas/gonum"
)

// The released demo model, natively, for comparison with the browser's figures:
//
//	go test -run '^$' -bench Sample -benchtime 3x ./core/engine
//
// (wasm/simd's BenchmarkSampleSIMD runs the same request on the browser's SIMD kernel.)
// Each iteration writes 32 tokens after a 9-token prompt in 32 steps (32 network calls).
const releaseFile = "../../weights/austen-mdm.q8_0.ckpt"

// useBLAS picks core/blas's backend for a benchmark, "gonum" or "openblas"; it reports
// false when that backend is not available here.
func useBLAS(name string) bool {
	switch name {
	case "gonum":
		blas.Use(gonum.Implementation{}, "gonum")
		return true
	case "openblas":
		return blas.Init(1) == nil && blas.Name() != "gonum"
	}
	return false
}

func benchSample(b *testing.B, impl string) {
	data, err := os.ReadFile(releaseFile)
	if err != nil {
		b.Skipf("no release weights: %v", err)
	}
	defer blas.Use(gonum.Implementation{}, "gonum")
	if !useBLAS(impl) {
		b.Skipf("%s not available here", impl)
	}
	e, err := Load(data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := BenchRequest
	b.ResetTimer()
	tokens := 0
	for i := 0; i < b.N; i++ {
		out, err := e.Sample(context.Background(), req, nil)
		if err != nil {
			b.Fatal(err)
		}
		tokens += out.Tokens
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkSampleGonum(b *testing.B)    { benchSample(b, "gonum") }
func BenchmarkSampleOpenBLAS(b *testing.B) { benchSample(b, "openblas") }
