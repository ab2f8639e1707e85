//go:build js && wasm

package gpu

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/checkpoint"
	"github.com/austen-diffusion/textdiffusion/core/model"
)

// The demo model (model.Demo: D=256, 6 layers, 4 heads, F=768, V=4096) over a full
// 128-token window, the shape of one sampling step. Run with
//
//	build/wasmtest.sh -run '^$' -bench . -benchtime 3x ./wasm/gpu
//
// On a machine without a GPU this measures SwiftShader, a software rasteriser: it says
// whether the GPU path works, not how fast a real GPU is.

var allMatrices = []string{"tok_emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3", "head"}

func demoDTypes(dt checkpoint.DType) map[string]checkpoint.DType {
	m := map[string]checkpoint.DType{}
	for _, k := range allMatrices {
		m[k] = dt
	}
	return m
}

func benchDenoiser(b *testing.B, dt checkpoint.DType, candidates bool) {
	cfg := model.Demo()
	m, tensors := randomModel(b, cfg, 1, demoDTypes(dt))
	d := newTestDenoiser(b, cfg, tensors)
	defer d.Close()
	ids := randIDs(rand.New(rand.NewPCG(1, 1)), cfg.SeqLen, cfg.Vocab)
	// Agreement with the CPU model at this size, reported with the timing.
	got, err := d.Logits(ids)
	if err != nil {
		b.Fatal(err)
	}
	want, err := m.Logits(ids)
	if err != nil {
		b.Fatal(err)
	}
	diff, _ := maxAbsDiff(got, want)
	run := func() {
		var err error
		if candidates {
			_, _, err = d.Candidates(ids)
		} else {
			_, err = d.Logits(ids)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run()
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "positions/s")
	b.ReportMetric(diff, "max|gpu-cpu|")
}

func BenchmarkLogitsDemoF32(b *testing.B)      { benchDenoiser(b, F32, false) }
func BenchmarkLogitsDemoQ8_0(b *testing.B)     { benchDenoiser(b, Q8_0, false) }
func BenchmarkLogitsDemoQ4_0(b *testing.B)     { benchDenoiser(b, Q4_0, false) }
func BenchmarkCandidatesDemoQ8_0(b *testing.B) { benchDenoiser(b, Q8_0, true) }

// BenchmarkBatchLogits times one pass over B sequences of the demo model (Q8_0) at 74
// tokens, a 64-token sample after a 10-token prompt: the speculative sampler's batch of
// K+1 states. A batch pays where a pass of B sequences costs less than B passes of one;
// ms/sequence says by how much.
func BenchmarkBatchLogits(b *testing.B) {
	cfg := model.Demo()
	_, tensors := randomModel(b, cfg, 1, demoDTypes(Q8_0))
	d := newTestDenoiser(b, cfg, tensors)
	defer d.Close()
	r := rand.New(rand.NewPCG(1, 1))
	for _, B := range []int{1, 3, 5, 9} {
		var ids []int32
		for range B {
			ids = append(ids, randIDs(r, 74, cfg.Vocab)...)
		}
		b.Run(fmt.Sprintf("B=%d", B), func(b *testing.B) {
			// The first call grows the activations and records the plan.
			if _, err := d.BatchLogits(ids, B); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := d.BatchLogits(ids, B); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N*B), "ms/sequence")
		})
	}
}

// BenchmarkLogitsDemoCPU is the Go CPU model in the same browser, for comparison.
func BenchmarkLogitsDemoCPU(b *testing.B) {
	cfg := model.Demo()
	m, _ := randomModel(b, cfg, 1, nil)
	ids := randIDs(rand.New(rand.NewPCG(1, 1)), cfg.SeqLen, cfg.Vocab)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Logits(ids); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(ids))/b.Elapsed().Seconds(), "positions/s")
}

// BenchmarkMatmulKernels times one demo forward pass (ids to logits, waited for, nothing
// read back) with each matmul kernel, the figures a model's load compares to choose one.
func BenchmarkMatmulKernels(b *testing.B) {
	for _, dt := range []checkpoint.DType{F32, Q8_0, Q4_0} {
		for _, mm := range []matmulKernel{registerMatmul, tiledMatmul} {
			b.Run(dt.String()+"/"+mm.String(), func(b *testing.B) {
				cfg := model.Demo()
				_, tensors := randomModel(b, cfg, 1, demoDTypes(dt))
				d := newTestDenoiserOn(b, testKernels(b).withMatmul(mm), cfg, tensors)
				defer d.Close()
				p, err := d.plan(shape{1, cfg.SeqLen})
				if err != nil {
					b.Fatal(err)
				}
				// The first pass pays for any compiling left to the first dispatch.
				if _, err := timePass(d.k, p.forward); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					d.k.run(p.forward)
					if err := d.k.dev.Done(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(1000*b.Elapsed().Seconds()/float64(b.N), "ms/forward")
			})
		}
	}
}

// BenchmarkForwardBreakdown times each op of one demo forward pass alone, waiting for the
// GPU after each, and logs the total per shader.
func BenchmarkForwardBreakdown(b *testing.B) {
	for _, dt := range []checkpoint.DType{F32, Q8_0, Q4_0} {
		b.Run(dt.String(), func(b *testing.B) { breakdown(b, dt) })
	}
}

func breakdown(b *testing.B, dt checkpoint.DType) {
	cfg := model.Demo()
	_, tensors := randomModel(b, cfg, 1, demoDTypes(dt))
	d := newTestDenoiser(b, cfg, tensors)
	defer d.Close()
	if _, err := d.Logits(randIDs(rand.New(rand.NewPCG(1, 1)), cfg.SeqLen, cfg.Vocab)); err != nil {
		b.Fatal(err)
	}
	p, err := d.plan(shape{1, cfg.SeqLen})
	if err != nil {
		b.Fatal(err)
	}
	per := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range append(p.forward, p.cand) {
			t0 := time.Now()
			d.k.run([]step{s})
			if err := d.k.dev.Done(); err != nil {
				b.Fatal(err)
			}
			per[s.p.Label] += time.Since(t0)
		}
	}
	var total time.Duration
	names := make([]string, 0, len(per))
	for name, t := range per {
		total += t
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t := per[name]
		b.Logf("%-45s %8.1f ms/forward  %4.1f%%", name, float64(t.Milliseconds())/float64(b.N), 100*float64(t)/float64(total))
	}
}
