package masked

import (
	"math"
	"runtime"
	"sync"
)

// exp2Frac[j] holds the bits of 2^(j/256); exp uses it so that only a cubic is left to evaluate.
var exp2Frac [256]uint64

func init() {
	for j := range exp2Frac {
		exp2Frac[j] = math.Float64bits(math.Exp2(float64(j) / 256))
	}
}

// Constants of the exp kernel: x = (k + f)·ln2/256 with k an integer and |f·ln2/256| <= ln2/512,
// exp(x) = 2^(k>>8) · 2^((k&255)/256) · exp(r), and exp(r) ~ 1 + r + r²/2 + r³/6 has a
// relative error below 2e-13 for |r| <= ln2/512.
const (
	expC     = 256 / math.Ln2
	expLn2C  = math.Ln2 / 256
	expShift = 0x1.8p52 // adding and subtracting it rounds a float64 to an integer, kept in the low bits
	// expLo clamps arguments: exp(-87.33) ~ 1.2e-38 (float32's smallest normal) is negligible
	// next to the row maximum's exp(0) = 1, and the clamp keeps k's exponent in range.
	expLo = -87.33654
)

// expSum is sum(exp(x - m)) in float64, x - m <= 0; exp is a table-driven kernel (about
// 1e-13 relative error), twice as fast as float32(math.Exp) here. Plain loop it stands for:
//
//	for _, v := range x { s += math.Exp(float64(v - m)) }
func expSum(x []float32, m float32) float64 {
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		a, b := max(float64(x[i]-m), expLo), max(float64(x[i+1]-m), expLo)
		ta, tb := a*expC+expShift, b*expC+expShift
		ra, rb := a-(ta-expShift)*expLn2C, b-(tb-expShift)*expLn2C
		ia, ib := math.Float64bits(ta), math.Float64bits(tb)
		pa := 1 + ra*(1+ra*(0.5+ra*(1.0/6)))
		pb := 1 + rb*(1+rb*(0.5+rb*(1.0/6)))
		s0 += math.Float64frombits(exp2Frac[ia&255]+(ia>>8)<<52) * pa
		s1 += math.Float64frombits(exp2Frac[ib&255]+(ib>>8)<<52) * pb
	}
	if i < len(x) {
		s0 += expOne(x[i] - m)
	}
	return s0 + s1
}

// expStore writes dst[i] = exp(x[i] - m) and returns their float64 sum (see expSum).
func expStore(dst, x []float32, m float32) float64 {
	dst = dst[:len(x)]
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(x); i += 2 {
		a, b := max(float64(x[i]-m), expLo), max(float64(x[i+1]-m), expLo)
		ta, tb := a*expC+expShift, b*expC+expShift
		ra, rb := a-(ta-expShift)*expLn2C, b-(tb-expShift)*expLn2C
		ia, ib := math.Float64bits(ta), math.Float64bits(tb)
		pa := 1 + ra*(1+ra*(0.5+ra*(1.0/6)))
		pb := 1 + rb*(1+rb*(0.5+rb*(1.0/6)))
		ea := math.Float64frombits(exp2Frac[ia&255]+(ia>>8)<<52) * pa
		eb := math.Float64frombits(exp2Frac[ib&255]+(ib>>8)<<52) * pb
		dst[i], dst[i+1] = float32(ea), float32(eb)
		s0 += ea
		s1 += eb
	}
	if i < len(x) {
		e := expOne(x[i] - m)
		dst[i] = float32(e)
		s0 += e
	}
	return s0 + s1
}

// expOne is the exp kernel of expSum for one argument x <= 0 (clamped below at expLo).
func expOne(x float32) float64 {
	a := max(float64(x), expLo)
	t := a*expC + expShift
	r := a - (t-expShift)*expLn2C
	i := math.Float64bits(t)
	return math.Float64frombits(exp2Frac[i&255]+(i>>8)<<52) * (1 + r*(1+r*(0.5+r*(1.0/6))))
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
