package nn

import "math"

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

// ExpSum is sum(exp(x - m)) in float64, x - m <= 0; exp is a table-driven kernel (about
// 1e-13 relative error), twice as fast as float32(math.Exp). Plain loop it stands for:
//
//	for _, v := range x { s += math.Exp(float64(v - m)) }
func ExpSum(x []float32, m float32) float64 {
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
		s0 += ExpNeg(float64(x[i] - m))
	}
	return s0 + s1
}

// ExpStore writes dst[i] = exp(x[i] - m) and returns their float64 sum (see ExpSum).
func ExpStore(dst, x []float32, m float32) float64 {
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
		e := ExpNeg(float64(x[i] - m))
		dst[i] = float32(e)
		s0 += e
	}
	return s0 + s1
}

// ExpNeg is e^x for x <= 0 with the same table kernel, to about 2e-13 relative error at
// a third of math.Exp's cost: 0 below -708 (where e^x leaves float64's normal range) and
// for -Inf, NaN for NaN. Softmaxes, sigmoids and the samplers all need only x <= 0.
func ExpNeg(x float64) float64 {
	if x < -708 {
		return 0
	}
	t := x*expC + expShift
	r := x - (t-expShift)*expLn2C
	i := math.Float64bits(t)
	return math.Float64frombits(exp2Frac[i&255]+(i>>8)<<52) * (1 + r*(1+r*(0.5+r*(1.0/6))))
}

// Constants of expNeg32: x = n ln2 + r with n an integer and |r| <= ln2/2 (ln2 split in
// two so n*ln2Hi is exact), and exp(r) ~ 1 + r + r^2 P(r) with Cephes' expf polynomial,
// within about 1 ulp of float32.
const (
	log2e32  = float32(math.Log2E)
	ln2Hi32  = float32(0.693359375)
	ln2Lo32  = float32(-2.12194440e-4)
	shift32  = float32(0x1.8p23)  // adding and subtracting it rounds a float32 to an integer, kept in the low bits
	expLo32  = float32(-87.33654) // e^x is below float32's smallest normal under this
	shiftBit = 0x4b400000         // the bits of shift32
)

// expNeg32 is e^x for x <= 0 in float32, to about 2 ulp, several times cheaper than
// float32(math.Exp(float64(x))); 0 below -87.34 (where e^x leaves float32's normal
// range) and for -Inf. It is the sigmoid's exponential, where float32 is all the
// precision that is kept. Plain function it stands for: float32(math.Exp(float64(x))).
func expNeg32(x float32) float32 {
	if !(x >= expLo32) { // also NaN: the sigmoid of NaN is then 1 or 0, never NaN
		return 0
	}
	t := x*log2e32 + shift32
	n := t - shift32
	r := x - n*ln2Hi32 - n*ln2Lo32
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	e := p*r*r + r + 1
	k := int32(math.Float32bits(t)) - shiftBit // n as an integer, -126 <= n <= 0
	return e * math.Float32frombits(uint32(k+127)<<23)
}

// ExpShift replaces each x[i] (<= m) by e^(x[i]-m) in float32 (expNeg32, about 2 ulp)
// and returns their sum: a softmax's exponentials, vectorised where the CPU allows.
func ExpShift(x []float32, m float32) float32 {
	i, s := expShiftVec(x, m)
	for ; i < len(x); i++ {
		e := expNeg32(x[i] - m)
		x[i] = e
		s += e
	}
	return s
}
