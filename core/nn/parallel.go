package nn

import (
	"runtime"
	"sync"
)

// minGrain is the least work (rows x cost) worth a goroutine; below it, loops run inline.
const minGrain = 1 << 15

// For runs fn over [0,n) split into contiguous chunks, one per core, when n*cost (a rough
// count of operations) is large enough to pay for the goroutines.
func For(n, cost int, fn func(lo, hi int)) {
	p := runtime.GOMAXPROCS(0)
	if p <= 1 || n < 2 || n*cost < minGrain {
		fn(0, n)
		return
	}
	if p > n {
		p = n
	}
	var wg sync.WaitGroup
	chunk := (n + p - 1) / p
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	wg.Wait()
}
