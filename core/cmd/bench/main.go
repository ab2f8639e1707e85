// Command bench trains the demo configuration for a few steps on random tokens and prints
// the model FLOP utilisation against the active BLAS backend's own sgemm speed, measured
// in the same run:
//
//	mfu=<fraction> tokens_per_s=<n> backend=<name>
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

func main() {
	steps := flag.Int("steps", 8, "timed training steps (after 2 warm-up steps)")
	batch := flag.Int("batch", 16, "sequences per step")
	objective := flag.String("objective", "mdm", "mdm or ar")
	threads := flag.Int("threads", 0, "BLAS threads (0: all cores)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps here")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bench [flags]\n\nTrains the demo model for a few steps on random tokens and reports MFU.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := blas.Init(*threads); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "blas: %s\n", blas.Name())

	gemm := sgemmFLOPs()
	fmt.Fprintf(os.Stderr, "sgemm 4096x256 by 256x768: %.1f GFLOP/s (median of 7)\n", gemm/1e9)

	cfg := train.Default()
	cfg.Objective, cfg.Batch, cfg.Steps = *objective, *batch, *steps+2
	cfg.Model.Causal = *objective == "ar"
	V := int32(cfg.Model.Vocab - 2)
	tr, err := train.New(cfg, nil, func(step int, dst []int32, B, n int) {
		rng := rand.New(rand.NewPCG(uint64(step), 1))
		for i := range dst {
			dst[i] = rng.Int32N(V)
		}
	})
	if err != nil {
		fail(err)
	}
	tr.TrainStep()
	tr.TrainStep()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var times []float64
	for i := 0; i < *steps; i++ {
		t0 := time.Now()
		tr.TrainStep()
		times = append(times, time.Since(t0).Seconds())
	}
	sort.Float64s(times)
	med := times[len(times)/2]
	L := cfg.Model.SeqLen
	tps := float64(cfg.Batch*L) / med
	mfu := tps * cfg.Model.FLOPsPerToken(L) / gemm
	fmt.Fprintf(os.Stderr, "median step %.3f s over %d steps, model %.2f GFLOP/s, %d params\n", med, *steps, tps*cfg.Model.FLOPsPerToken(L)/1e9, cfg.Model.NumParams())
	fmt.Printf("mfu=%.3f tokens_per_s=%.0f backend=%s\n", mfu, tps, blas.Name())
}

// sgemmFLOPs times the MLP-shaped product (4096x256 by 256x768) on the active backend.
func sgemmFLOPs() float64 {
	m, n, k := 4096, 768, 256
	rng := rand.New(rand.NewPCG(1, 2))
	a, b, c := make([]float32, m*k), make([]float32, n*k), make([]float32, m*n)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range b {
		b[i] = float32(rng.NormFloat64())
	}
	blas.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
	var r []float64
	for i := 0; i < 7; i++ {
		t0 := time.Now()
		blas.Sgemm(false, true, m, n, k, 1, a, k, b, k, 0, c, n)
		r = append(r, 2*float64(m*n*k)/time.Since(t0).Seconds())
	}
	sort.Float64s(r)
	return r[len(r)/2]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
