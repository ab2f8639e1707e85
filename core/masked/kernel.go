package masked

import (
	"math"
	"runtime"
	"sync"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

// maxf is the largest element of x (-Inf when empty).
func maxf(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

// scalef multiplies x by a in place.
func scalef(x []float32, a float32) {
	for i := range x {
		x[i] *= a
	}
}

// rowCE is -log softmax(row)[target], the softmax taken over every column except skip
// (skip < 0 or >= len(row): none). With drow non-nil it also writes scale * d(CE)/d(row)
// there: scale*(p - onehot(target)), zero at skip.
func rowCE(row []float32, target, skip int, drow []float32, scale float32) float64 {
	a, b := row, row[:0] // the two column ranges either side of skip
	if skip >= 0 && skip < len(row) {
		a, b = row[:skip], row[skip+1:]
	}
	m := max(maxf(a), maxf(b))
	var sum float64
	if drow == nil {
		sum = nn.ExpSum(a, m) + nn.ExpSum(b, m)
	} else {
		if skip >= 0 && skip < len(row) {
			sum = nn.ExpStore(drow[:skip], a, m) + nn.ExpStore(drow[skip+1:], b, m)
			drow[skip] = 0
		} else {
			sum = nn.ExpStore(drow, a, m)
		}
		scalef(drow, float32(float64(scale)/sum))
		drow[target] -= scale
	}
	return math.Log(sum) + float64(m) - float64(row[target])
}

// parallelRows calls fn over [0,n) split into contiguous chunks, one goroutine per chunk
// (GOMAXPROCS of them when the work, n*cost, is large enough to pay for the goroutines), and
// returns the sum of fn's results in chunk order, so a result does not depend on scheduling.
func parallelRows(n, cost int, fn func(lo, hi int) float64) float64 {
	workers := runtime.GOMAXPROCS(0)
	if w := n * cost / (1 << 15); w < workers {
		workers = max(w, 1)
	}
	if workers > n {
		workers = max(n, 1)
	}
	if workers == 1 {
		return fn(0, n)
	}
	part := make([]float64, workers)
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			part[w] = fn(lo, hi)
		}()
	}
	wg.Wait()
	var s float64
	for _, p := range part {
		s += p
	}
	return s
}
