// Command bench trains the demo configuration for a few steps on random tokens and prints
// the model FLOP utilisation against the active BLAS backend's own sgemm speed, measured
// at the same moment: a sgemm sample is taken before every timed step (and one after the
// last), and each step's ratio divides the model's FLOP/s in that step by the mean of the
// two samples around it. On a machine shared with other work both figures move together,
// so the ratio is steadier than either. The last line is
//
//	mfu=<median> mfu_iqr=<q1>-<q3> tokens_per_s=<median> backend=<name>
//
// with the median and interquartile range of the per-step ratios, and mfu_cpu, the same
// ratio with the CPU time the process was given (all its threads, OpenBLAS's included) in
// place of wall time: on a machine busier than its cores, wall time mostly measures the
// share of the CPU a process got, CPU time what it did with it. Before the line, the time
// of a step split by kernel family (nn.Times).
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"sort"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/cmd/internal/cli"
	"github.com/austen-diffusion/textdiffusion/core/nn"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

func main() {
	steps := flag.Int("steps", 12, "timed training steps (after 2 warm-up steps)")
	batch := flag.Int("batch", 16, "sequences per step")
	objective := flag.String("objective", "mdm", "what to train: "+train.ObjectiveNames())
	threads := flag.Int("threads", 0, "BLAS threads (0: all cores)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps here")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: bench [flags]\n\nTrains the demo model for a few steps on random tokens and reports MFU.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *steps < 1 {
		fail(fmt.Errorf("-steps %d: want at least 1", *steps))
	}
	if err := blas.Init(*threads); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "blas: %s\n", blas.Name())

	cfg := train.Default()
	cfg.Objective, cfg.Batch, cfg.Steps = *objective, *batch, *steps+2
	obj, err := train.ObjectiveByName(*objective)
	if err != nil {
		fail(err)
	}
	cfg.Model.Causal = obj.Causal()
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
	g := newGemm()
	tr.TrainStep()
	tr.TrainStep()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}

	L := cfg.Model.SeqLen
	flops := float64(cfg.Batch*L) * cfg.Model.FLOPsPerToken(L) // per step
	var fam [nn.NumFamilies]time.Duration
	nn.Times = &fam
	w, c := g.sample()
	gemm, gemmCPU := []float64{w}, []float64{c}
	var secs, ratios, ratiosCPU []float64
	for i := 0; i < *steps; i++ {
		t0, c0 := time.Now(), cli.CPUSeconds()
		tr.TrainStep()
		s, cs := time.Since(t0).Seconds(), cli.CPUSeconds()-c0
		w, c := g.sample()
		gemm, gemmCPU = append(gemm, w), append(gemmCPU, c)
		secs = append(secs, s)
		ratios = append(ratios, flops/s/((gemm[i]+gemm[i+1])/2))
		ratiosCPU = append(ratiosCPU, flops/cs/((gemmCPU[i]+gemmCPU[i+1])/2))
	}
	nn.Times = nil

	total := 0.0
	for _, s := range secs {
		total += s
	}
	fmt.Fprintf(os.Stderr, "time per step by kernel family (mean over %d steps):\n", *steps)
	tracked := 0.0
	for f := nn.Family(0); f < nn.NumFamilies; f++ {
		s := fam[f].Seconds()
		tracked += s
		fmt.Fprintf(os.Stderr, "  %-12s %7.1f ms %5.1f%%\n", f, 1e3*s/float64(*steps), 100*s/total)
	}
	fmt.Fprintf(os.Stderr, "  %-12s %7.1f ms %5.1f%%\n", "other", 1e3*(total-tracked)/float64(*steps), 100*(total-tracked)/total)

	gq, sq, rq, cq := quartiles(gemm), quartiles(secs), quartiles(ratios), quartiles(ratiosCPU)
	fmt.Fprintf(os.Stderr, "sgemm 4096x256 by 256x768: median %.1f GFLOP/s (min %.1f, max %.1f, %d samples between the steps)\n",
		gq[1]/1e9, gq[3]/1e9, gq[4]/1e9, len(gemm))
	fmt.Fprintf(os.Stderr, "step: median %.3f s (min %.3f, max %.3f), model %.2f GFLOP/s, %d params\n",
		sq[1], sq[3], sq[4], flops/sq[1]/1e9, cfg.Model.NumParams())
	fmt.Fprintf(os.Stderr, "mfu per step: median %.3f, interquartile range %.3f-%.3f, min %.3f, max %.3f\n", rq[1], rq[0], rq[2], rq[3], rq[4])
	cpu := ""
	if cq[1] > 0 && !math.IsInf(cq[1], 0) { // CPU time is measured on this platform
		fmt.Fprintf(os.Stderr, "mfu per step by CPU time: median %.3f, interquartile range %.3f-%.3f, min %.3f, max %.3f\n", cq[1], cq[0], cq[2], cq[3], cq[4])
		cpu = fmt.Sprintf(" mfu_cpu=%.3f", cq[1])
	}
	fmt.Printf("mfu=%.3f mfu_iqr=%.3f-%.3f%s tokens_per_s=%.0f backend=%s\n", rq[1], rq[0], rq[2], cpu, float64(cfg.Batch*L)/sq[1], blas.Name())
}

// quartiles returns q1, median, q3, min and max of x (linear interpolation between order
// statistics, like numpy's default), leaving x unchanged.
func quartiles(x []float64) [5]float64 {
	s := append([]float64(nil), x...)
	sort.Float64s(s)
	at := func(p float64) float64 {
		f := p * float64(len(s)-1)
		i := int(f)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (f-float64(i))*(s[i+1]-s[i])
	}
	return [5]float64{at(0.25), at(0.5), at(0.75), s[0], s[len(s)-1]}
}

// gemm is the reference product: the MLP-shaped 4096x256 by 256x768 through blas.Sgemm,
// as the model's products run (with OpenBLAS on 2 threads: two row blocks, each on
// single-threaded OpenBLAS in its own goroutine; see blas.OpenBLAS).
type gemm struct{ a, b, c []float32 }

const gm, gn, gk = 4096, 768, 256

func newGemm() *gemm {
	rng := rand.New(rand.NewPCG(1, 2))
	g := &gemm{make([]float32, gm*gk), make([]float32, gn*gk), make([]float32, gm*gn)}
	for i := range g.a {
		g.a[i] = float32(rng.NormFloat64())
	}
	for i := range g.b {
		g.b[i] = float32(rng.NormFloat64())
	}
	g.run()
	return g
}

func (g *gemm) run() { blas.Sgemm(false, true, gm, gn, gk, 1, g.a, gk, g.b, gk, 0, g.c, gn) }

// sample is one sample of "how fast is sgemm right now": the median FLOP/s of three
// back-to-back products, and their FLOPs per CPU-second.
func (g *gemm) sample() (wall, cpu float64) {
	var r [3]float64
	c0 := cli.CPUSeconds()
	for i := range r {
		t0 := time.Now()
		g.run()
		r[i] = 2 * gm * gn * gk / time.Since(t0).Seconds()
	}
	cpu = 3 * 2 * gm * gn * gk / (cli.CPUSeconds() - c0)
	sort.Float64s(r[:])
	return r[1], cpu
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
