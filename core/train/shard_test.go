package train

import (
	"math"
	"sync"
	"testing"

	"github.com/austen-diffusion/textdiffusion/core/dist"
)

// group is an in-process job of n ranks (goroutines) for the tests: its collectives meet
// at a barrier and sum in rank order, so it needs no MPI.
type group struct {
	n       int
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	gen     int
	acc     []float64
}

// rank is one member of a group.
type rank struct {
	dist.Single
	g *group
	r int
}

func newGroup(n int) []dist.Comm {
	g := &group{n: n}
	g.cond = sync.NewCond(&g.mu)
	out := make([]dist.Comm, n)
	for r := range out {
		out[r] = &rank{g: g, r: r}
	}
	return out
}

func (c *rank) Rank() int { return c.r }
func (c *rank) Size() int { return c.g.n }

// sum adds every rank's vals into each rank's vals; every rank waits for the others twice
// (to add, then to read the total).
func (c *rank) sum(vals []float64) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.arrived == 0 {
		g.acc = make([]float64, len(vals))
	}
	for i, v := range vals {
		g.acc[i] += v
	}
	wait := func() {
		gen := g.gen
		if g.arrived++; g.arrived == g.n {
			g.arrived, g.gen = 0, g.gen+1
			g.cond.Broadcast()
			return
		}
		for gen == g.gen {
			g.cond.Wait()
		}
	}
	wait()
	copy(vals, g.acc)
	wait()
}

func (c *rank) AllReduceSum(buf []float32) {
	v := make([]float64, len(buf))
	for i, x := range buf {
		v[i] = float64(x)
	}
	c.sum(v)
	for i := range buf {
		buf[i] = float32(v[i])
	}
}

func (c *rank) AllReduceSum64(buf []float64) { c.sum(buf) }

// TestShardedSteps trains the tiny model 6 steps on one process with batch 4 and on a job
// of 2 ranks (goroutines) of 2 sequences each: the losses and weights agree within float32
// rounding (see shard.go: the batch rows are summed in two parts), for both objectives and
// both masking estimators. make test-mpi checks the same through Open MPI.
func TestShardedSteps(t *testing.T) {
	for _, cs := range []struct{ objective, masking string }{{"mdm", ""}, {"mdm", "count"}, {"ar", ""}} {
		t.Run(cs.objective+cs.masking, func(t *testing.T) {
			c := tinyConfig(cs.objective)
			c.Masking = cs.masking
			s := stream(600)
			one, err := New(c, nil, windowBatch(s))
			if err != nil {
				t.Fatal(err)
			}
			comms := newGroup(2)
			ranks := make([]*Trainer, 2)
			for r := range ranks {
				if ranks[r], err = New(c, nil, windowBatch(s)); err != nil {
					t.Fatal(err)
				}
				if err := ranks[r].SetComm(comms[r]); err != nil {
					t.Fatal(err)
				}
			}
			for step := 0; step < 6; step++ {
				want := one.TrainStep()
				got := make([]Stats, 2)
				var wg sync.WaitGroup
				for r, tr := range ranks {
					wg.Add(1)
					go func() { defer wg.Done(); got[r] = tr.TrainStep() }()
				}
				wg.Wait()
				for r, g := range got {
					if d := math.Abs(g.Loss-want.Loss) / want.Loss; d > 1e-6 {
						t.Errorf("step %d rank %d: loss %.9g, one process %.9g", step, r, g.Loss, want.Loss)
					}
					if d := math.Abs(g.GradNorm-want.GradNorm) / want.GradNorm; d > 1e-5 {
						t.Errorf("step %d rank %d: gradient norm %.9g, one process %.9g", step, r, g.GradNorm, want.GradNorm)
					}
				}
			}
			var worst float64
			for i, w := range one.Model.Params {
				worst = max(worst, math.Abs(float64(ranks[0].Model.Params[i]-w)))
				if ranks[0].Model.Params[i] != ranks[1].Model.Params[i] {
					t.Fatalf("the ranks' weights differ at %d", i)
				}
			}
			if worst > 1e-5 {
				t.Errorf("weights differ from the one-process run's by up to %.3g", worst)
			}
		})
	}
}

// TestSetCommRefuses a batch that does not split and the DivideByMasked ablation.
func TestSetCommRefuses(t *testing.T) {
	c := tinyConfig("mdm")
	tr, err := New(c, nil, windowBatch(stream(600)))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.SetComm(newGroup(3)[0]); err == nil {
		t.Error("batch 4 over 3 ranks was accepted")
	}
	tr.Cfg.DivideByMasked = true
	if err := tr.SetComm(newGroup(2)[0]); err == nil {
		t.Error("-divide-by-masked over 2 ranks was accepted")
	}
}
