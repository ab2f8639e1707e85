package masked

import (
	"math"
	"runtime"
	"sync"
)

// expf is exp(x) in float32 for x <= 0 (the only range a max-shifted softmax needs), to about
// 2 ulp; it is several times faster than math.Exp and avoids float64 conversions in the hot loop.
// Plain loop it stands for: float32(math.Exp(float64(x))).
func expf(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693145751953125 // ln2 split so n*ln2hi is exact for |n| < 2^11
		ln2lo = 1.42860682030941723212e-6
		shift = 12582912 // 1.5*2^23: adding and subtracting it rounds to the nearest integer
	)
	if x < -87.33654 { // exp underflows the normal float32 range
		return 0
	}
	n := x*log2e + shift
	n -= shift
	r := x - n*ln2hi - n*ln2lo // |r| <= ln2/2
	// Taylor to degree 7: the truncation error r^8/8! is below 1e-8 relative on |r| <= 0.35.
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040)))))))
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}

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

// expSum is sum(exp(x - m)) accumulated in float64.
func expSum(x []float32, m float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(expf(x[i] - m))
		s1 += float64(expf(x[i+1] - m))
		s2 += float64(expf(x[i+2] - m))
		s3 += float64(expf(x[i+3] - m))
	}
	for ; i < len(x); i++ {
		s0 += float64(expf(x[i] - m))
	}
	return (s0 + s1) + (s2 + s3)
}

// expStore writes dst[i] = exp(x[i] - m) and returns their float64 sum.
func expStore(dst, x []float32, m float32) float64 {
	dst = dst[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		e0, e1, e2, e3 := expf(x[i]-m), expf(x[i+1]-m), expf(x[i+2]-m), expf(x[i+3]-m)
		dst[i], dst[i+1], dst[i+2], dst[i+3] = e0, e1, e2, e3
		s0 += float64(e0)
		s1 += float64(e1)
		s2 += float64(e2)
		s3 += float64(e3)
	}
	for ; i < len(x); i++ {
		e := expf(x[i] - m)
		dst[i] = e
		s0 += float64(e)
	}
	return (s0 + s1) + (s2 + s3)
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
		sum = expSum(a, m) + expSum(b, m)
	} else {
		if skip >= 0 && skip < len(row) {
			sum = expStore(drow[:skip], a, m) + expStore(drow[skip+1:], b, m)
			drow[skip] = 0
		} else {
			sum = expStore(drow, a, m)
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
