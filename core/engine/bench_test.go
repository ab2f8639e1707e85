package engine

import (
	"context"
	"os"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/nn"
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

// loadOn loads the release file with core/blas on impl, put back to gonum (and core/nn's
// Go loops) when the benchmark ends.
func loadOn(b *testing.B, impl string) *Engine {
	data, err := os.ReadFile(releaseFile)
	if err != nil {
		b.Skipf("no release weights: %v", err)
	}
	b.Cleanup(func() {
		blas.Use(gonum.Implementation{}, "gonum")
		nn.UseKernels(nn.Kernels{})
	})
	if !useBLAS(impl) {
		b.Skipf("%s not available here", impl)
	}
	e, err := Load(data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchSample(b *testing.B, impl string) {
	e := loadOn(b, impl)
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

// benchForward times one forward pass over the model's full window (128 positions for
// the demo model), the figure build/bench-browser compares with onnxruntime-web.
func benchForward(b *testing.B, impl string) {
	e := loadOn(b, impl)
	ids := make([]int32, e.cfg.SeqLen)
	for i := range ids {
		ids[i] = int32(i * 31 % (e.cfg.Vocab - 2))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.cpu.Logits(ids); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForwardGonum(b *testing.B)    { benchForward(b, "gonum") }
func BenchmarkForwardOpenBLAS(b *testing.B) { benchForward(b, "openblas") }

func BenchmarkSampleGonum(b *testing.B)    { benchSample(b, "gonum") }
func BenchmarkSampleOpenBLAS(b *testing.B) { benchSample(b, "openblas") }
