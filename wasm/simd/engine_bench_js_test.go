//go:build js && wasm

package simd

import (
	"context"
	"fmt"
	"os"
	"syscall/js"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/continuous"
	"github.com/austen-diffusion/textdiffusion/core/engine"
	"github.com/austen-diffusion/textdiffusion/core/model"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkSampleSIMD is core/engine's sampling benchmark on this kernel, the browser's
// CPU path:
//
//	GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" -run '^$' -bench Sample -benchtime 3x ./wasm/simd
//
// on one thread and, on a shared memory (node_exec.sh's default), on two (pool_js.go),
// for engine.BenchRequest and for the page's default request.
func BenchmarkSampleSIMD(b *testing.B) {
	data, err := os.ReadFile("../../weights/austen-mdm.q8_0.ckpt")
	if err != nil {
		b.Skipf("no release weights: %v", err)
	}
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() {
		b.Skip("no globalThis.tdiffMemory: run with -exec wasm/simd/testdata/node_exec.sh")
	}
	e, err := engine.Load(data, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	page := engine.DefaultRequest() // the page's first sample: 48 tokens, semi-AR blocks
	page.Prompt, page.Seed = engine.BenchRequest.Prompt, 1
	for _, bench := range []struct {
		name    string
		req     engine.Request
		threads int
	}{{"bench/threads=1", engine.BenchRequest, 1}, {"bench/threads=2", engine.BenchRequest, 2},
		{"page/threads=1", page, 1}, {"page/threads=2", page, 2}} {
		threads := bench.threads
		b.Run(bench.name, func(b *testing.B) {
			useThreads(b, mem, threads)
			b.ResetTimer()
			tokens := 0
			for i := 0; i < b.N; i++ {
				out, err := e.Sample(context.Background(), bench.req, nil)
				if err != nil {
					b.Fatal(err)
				}
				tokens += out.Tokens
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkContinuousStepSIMD times a continuous model's two calls per live-view step on
// this kernel (the browser's CPU path), 48 positions with 16 of them a prompt: the
// denoiser's and the decoder's (which the page runs after every step to show the text):
//
//	GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" -run '^$' -bench ContinuousStep -benchtime 10x ./wasm/simd
func BenchmarkContinuousStepSIMD(b *testing.B) {
	f, err := checkpoint.Load("../../weights/austen-tencdm.q8_0.ckpt")
	if err != nil {
		b.Skipf("no continuous release weights: %v", err)
	}
	cm, err := continuous.Open(f)
	if err != nil {
		b.Fatal(err)
	}
	k := load(b)
	blas.Use(k, "wasm-simd")
	nn.UseKernels(k.Kernels())
	defer blas.Use(gonum.Implementation{}, "gonum")
	defer nn.UseKernels(nn.Kernels{})
	const L, prompt = 48, 16
	D := cm.Space.D()
	known := make([]bool, L)
	t := make([]float32, L)
	for i := range known {
		known[i] = i < prompt
		if !known[i] {
			t[i] = 0.5
		}
	}
	z := make([]float32, L*D)
	for i := range z {
		z[i] = float32(i%7) - 3
	}
	cpu := cm.CPU()
	if err := cpu.Begin(z, make([]float32, L*D), known); err != nil {
		b.Fatal(err)
	}
	b.Run("denoise", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := cpu.Denoise(t); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := cpu.Tokens(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// useThreads installs the kernel on threads threads as core/blas's and core/nn's for the
// rest of b, the helpers ready; it skips where more than one needs a shared memory.
func useThreads(b *testing.B, mem js.Value, threads int) {
	if threads > 1 && !isShared(mem) {
		b.Skip("Go's memory is not shared (TDIFF_UNSHARED=1?)")
	}
	k, err := LoadThreads(mem, threads)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		blas.Use(gonum.Implementation{}, "gonum")
		nn.UseKernels(nn.Kernels{})
		k.Close()
	})
	if got, why := k.WaitThreads(time.Minute); got != threads {
		b.Fatalf("%d threads ready, want %d: %s", got, threads, why)
	}
	blas.Use(k, "wasm-simd")
	nn.UseKernels(k.Kernels())
}

// BenchmarkForwardSIMD times one forward pass of the released masked model over its
// whole window (make bench-browser's pass, in Node) on one and two threads:
//
//	GOOS=js GOARCH=wasm go test -exec "$PWD/wasm/simd/testdata/node_exec.sh" -run '^$' -bench Forward ./wasm/simd
func BenchmarkForwardSIMD(b *testing.B) {
	f, err := checkpoint.Load("../../weights/austen-mdm.q8_0.ckpt")
	if err != nil {
		b.Skipf("no release weights: %v", err)
	}
	m, err := model.FromFileInference(f)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int32, m.Cfg.SeqLen)
	for i := range ids {
		ids[i] = int32(i*31) % int32(m.Cfg.Vocab-2)
	}
	mem := js.Global().Get("tdiffMemory")
	if !mem.Truthy() {
		b.Skip("no globalThis.tdiffMemory: run with -exec wasm/simd/testdata/node_exec.sh")
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			useThreads(b, mem, threads)
			m.Forward(ids, 1)
			b.ResetTimer()
			for range b.N {
				m.Forward(ids, 1)
			}
		})
	}
}
