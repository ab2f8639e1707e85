//go:build unix

// Command abstep trains the bench configuration (demo model, batch 16, mdm, random tokens)
// for N steps after 2 warm-up steps and prints each step as a Go benchmark line, wall and
// CPU time, for benchstat. build/bench-ab.sh builds it in an old tree and in this one and
// runs the two in turns. It must build in old trees too, so it uses only what every
// revision since the bench has: it repeats cli.CPUSeconds and the bench's trainer set-up
// instead of importing them.
//
//	abstep N
package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/austen-diffusion/textdiffusion/core/blas"
	"github.com/austen-diffusion/textdiffusion/core/train"
)

// cpuSeconds is the CPU time of every thread of the process, OpenBLAS's included.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func main() {
	steps, err := strconv.Atoi(os.Args[len(os.Args)-1])
	if len(os.Args) != 2 || err != nil || steps < 1 {
		fmt.Fprintln(os.Stderr, "usage: abstep STEPS")
		os.Exit(2)
	}
	if err := blas.Init(0); err != nil {
		fmt.Fprintln(os.Stderr, "abstep:", err)
		os.Exit(1)
	}
	cfg := train.Default()
	cfg.Objective, cfg.Batch, cfg.Steps = "mdm", 16, steps+2
	V := int32(cfg.Model.Vocab - 2)
	tr, err := train.New(cfg, nil, func(step int, dst []int32, B, n int) {
		rng := rand.New(rand.NewPCG(uint64(step), 1))
		for i := range dst {
			dst[i] = rng.Int32N(V)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "abstep:", err)
		os.Exit(1)
	}
	tr.TrainStep()
	tr.TrainStep()
	tokens := float64(cfg.Batch * cfg.Model.SeqLen)
	for i := 0; i < steps; i++ {
		t0, c0 := time.Now(), cpuSeconds()
		tr.TrainStep()
		w, c := time.Since(t0).Seconds(), cpuSeconds()-c0
		fmt.Printf("BenchmarkTrainStep 1 %.0f ns/op %.0f cpu-ns/op %.1f tokens/s %.1f tokens/cpu-s\n", w*1e9, c*1e9, tokens/w, tokens/c)
	}
}
