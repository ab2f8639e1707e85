package masked

import (
	"math"
	"math/rand/v2"
	"testing"
)

// toy is an explicit distribution over all Vr^L sequences of Vr real tokens; the MASK id is Vr,
// so a denoiser's logits have V = Vr+1 columns.
type toy struct {
	L, Vr int
	p     []float64 // p[index(x)], index(x) = sum_i x_i Vr^i
	cache map[int][]float32
}

func newToy(L, Vr int, seed uint64) *toy {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := 1
	for range L {
		n *= Vr
	}
	d := &toy{L: L, Vr: Vr, p: make([]float64, n), cache: map[int][]float32{}}
	var z float64
	for i := range d.p {
		d.p[i] = math.Exp(1.5 * rng.NormFloat64()) // skewed, so conditionals are far from uniform
		z += d.p[i]
	}
	for i := range d.p {
		d.p[i] /= z
	}
	return d
}

func (d *toy) mask() int32 { return int32(d.Vr) }
func (d *toy) V() int      { return d.Vr + 1 }

func (d *toy) digits(idx int) []int32 {
	x := make([]int32, d.L)
	for i := range x {
		x[i] = int32(idx % d.Vr)
		idx /= d.Vr
	}
	return x
}

func (d *toy) nll(x []int32) float64 {
	idx := 0
	for i := d.L - 1; i >= 0; i-- {
		idx = idx*d.Vr + int(x[i])
	}
	return -math.Log(d.p[idx])
}

// cond returns, for each position n masked in xt, the exact conditional p(x_n = v | visible
// tokens of xt), marginalising over the other masked positions; nil for visible positions.
func (d *toy) cond(xt []int32) [][]float64 {
	out := make([][]float64, d.L)
	for n, tok := range xt {
		if tok == d.mask() {
			out[n] = make([]float64, d.Vr)
		}
	}
	var total float64
	for idx, p := range d.p {
		s := d.digits(idx)
		ok := true
		for n, tok := range xt {
			if tok != d.mask() && s[n] != tok {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		total += p
		for n := range xt {
			if out[n] != nil {
				out[n][s[n]] += p
			}
		}
	}
	for _, c := range out {
		for v := range c {
			c[v] /= total
		}
	}
	return out
}

// oracle is the exact denoiser: (L, V) logits holding log p(x_n | visible) on masked rows. The
// MASK column is set large and visible rows hold arbitrary values, both of which SUBS must ignore.
func (d *toy) oracle(xt []int32) []float32 {
	key := 0
	for _, tok := range xt {
		key = key*d.V() + int(tok)
	}
	if lg, ok := d.cache[key]; ok {
		return lg
	}
	V := d.V()
	lg := make([]float32, d.L*V)
	c := d.cond(xt)
	for n := range xt {
		for v := 0; v < d.Vr; v++ {
			if c[n] != nil {
				lg[n*V+v] = float32(math.Log(c[n][v]))
			} else {
				lg[n*V+v] = float32((n*5+v*3)%7) - 3 // garbage on a carried-over row
			}
		}
		lg[n*V+d.Vr] = 40 // MASK logit: excluded from the softmax
	}
	d.cache[key] = lg
	return lg
}

// subsetSums returns S[l] = E_{M uniform, |M|=l} sum_{n in M} -log q_n, for l = 1..L, where q_n
// is the exact conditional of x_n given x outside M (pseudo: given every other token of x).
func (d *toy) subsetSums(x []int32, pseudo bool) []float64 {
	S := make([]float64, d.L+1)
	cnt := make([]int, d.L+1)
	xt := make([]int32, d.L)
	for M := 1; M < 1<<d.L; M++ {
		l := 0
		copy(xt, x)
		for n := range xt {
			if M>>n&1 == 1 {
				xt[n] = d.mask()
				l++
			}
		}
		c := d.cond(xt)
		var s float64
		for n := range xt {
			if M>>n&1 == 0 {
				continue
			}
			if pseudo {
				one := append([]int32(nil), x...)
				one[n] = d.mask()
				s -= math.Log(d.cond(one)[n][x[n]])
			} else {
				s -= math.Log(c[n][x[n]])
			}
		}
		S[l] += s
		cnt[l]++
	}
	for l := 1; l <= d.L; l++ {
		S[l] /= float64(cnt[l])
	}
	return S
}

// clippedExpectation is E[Loss] per token for copies of x under cfg (times clipped by Eps),
// computed without sampling: (1/L) sum_l S_l (1/(1-eps)) int_eps^1 w(t) P(|M|=l | t) dt.
func clippedExpectation(S []float64, L int, cfg NoiseConfig) float64 {
	const steps = 20000 // composite Simpson; the integrands are smooth
	var e float64
	for l := 1; l <= L; l++ {
		f := func(t float64) float64 {
			m := 1 - cfg.Alpha(t)
			return Weight(cfg.Schedule, t) * binom(L, l) * math.Pow(m, float64(l)) * math.Pow(1-m, float64(L-l))
		}
		a, b := cfg.Eps, 1.0
		h := (b - a) / steps
		s := f(a) + f(b)
		for i := 1; i < steps; i++ {
			wt := 2.0
			if i%2 == 1 {
				wt = 4
			}
			s += wt * f(a+float64(i)*h)
		}
		e += S[l] * s * h / 3 / (1 - cfg.Eps)
	}
	return e / float64(L)
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return r
}

// TestAnyOrderIdentity checks the math the MC tests rely on, with no sampling: with the exact
// conditionals given the visible tokens, sum_l S_l/l = -log p(x) (the unclipped NELBO is tight),
// while the conditionals given every other token (pseudo-likelihood) are the wrong oracle.
func TestAnyOrderIdentity(t *testing.T) {
	d := newToy(4, 3, 1)
	for idx := range d.p {
		x := d.digits(idx)
		S := d.subsetSums(x, false)
		var nelbo float64
		for l := 1; l <= d.L; l++ {
			nelbo += S[l] / float64(l)
		}
		if math.Abs(nelbo-d.nll(x)) > 1e-10 {
			t.Fatalf("x=%v: NELBO with exact conditionals %.12f, -log p(x) %.12f", x, nelbo, d.nll(x))
		}
	}
	x := d.digits(0)
	P := d.subsetSums(x, true)
	var pseudo float64
	for l := 1; l <= d.L; l++ {
		pseudo += P[l] / float64(l)
	}
	if math.Abs(pseudo-d.nll(x)) < 0.05 {
		t.Fatalf("pseudo-likelihood oracle gives %.4f, too close to -log p(x) %.4f to tell the oracles apart", pseudo, d.nll(x))
	}
}

// proofSeqs picks the most likely, the least likely and a middle sequence of d.
func proofSeqs(d *toy) [][]int32 {
	lo, hi := 0, 0
	for i, p := range d.p {
		if p < d.p[lo] {
			lo = i
		}
		if p > d.p[hi] {
			hi = i
		}
	}
	return [][]int32{d.digits(hi), d.digits(lo), d.digits(len(d.p) / 2)}
}

// mcLoss runs nb batches of B copies of x through SampleTimes, Corrupt, the oracle and Loss,
// returning the mean per-token loss and its standard error, for cfg and for cfg with
// DivideByMasked on the same batches.
func mcLoss(d *toy, x []int32, cfg NoiseConfig, B, nb int, rng *rand.Rand) (mean, se, meanDBM, seDBM float64) {
	L, V := d.L, d.V()
	x0 := make([]int32, B*L)
	for b := range B {
		copy(x0[b*L:], x)
	}
	xt := make([]int32, B*L)
	logits := make([]float32, B*L*V)
	vals := make([]float64, nb)
	dbm := make([]float64, nb)
	wrong := cfg
	wrong.DivideByMasked = true
	for i := range nb {
		times := Draw(rng, x0, B, L, cfg, d.mask(), xt)
		for b := range B {
			copy(logits[b*L*V:], d.oracle(xt[b*L:(b+1)*L]))
		}
		vals[i], _ = Loss(logits, x0, xt, B, L, V, times, cfg, d.mask(), nil)
		dbm[i], _ = Loss(logits, x0, xt, B, L, V, times, wrong, d.mask(), nil)
	}
	mean, se = MeanSE(vals)
	meanDBM, seDBM = MeanSE(dbm)
	return
}

// TestProofLoss: (a) the training objective with the exact denoiser estimates -log p(x)/L
// without bias (up to the Eps clipping, computed exactly and checked negligible), for two
// schedules; (c) dividing by the masked count instead estimates something else.
func TestProofLoss(t *testing.T) {
	d := newToy(4, 3, 1)
	rng := rand.New(rand.NewPCG(11, 12))
	for _, cfg := range []NoiseConfig{
		{Schedule: Linear{}, Eps: 1e-3, Antithetic: true},
		{Schedule: Cosine{}, Eps: 1e-3, Antithetic: true},
		{Schedule: Cosine{}, Antithetic: true, ExactCount: true}, // the schedule must not matter
	} {
		sched := cfg.Schedule
		for _, x := range proofSeqs(d) {
			exact := d.nll(x) / float64(d.L)
			clipped := exact // exact counts involve no clipping
			if !cfg.ExactCount {
				clipped = clippedExpectation(d.subsetSums(x, false), d.L, cfg)
			}
			mean, se, dbm, dbmSE := mcLoss(d, x, cfg, 64, 1500, rng)
			t.Logf("%s count=%v x=%v: exact -log p(x)/L %.4f, clipped expectation %.4f, Loss estimate %.4f ± %.4f (%.1f SE); DivideByMasked %.4f ± %.4f (%.0f SE off)",
				sched.Name(), cfg.ExactCount, x, exact, clipped, mean, se, (mean-exact)/se, dbm, dbmSE, math.Abs(dbm-exact)/dbmSE)
			if math.Abs(clipped-exact) > 0.01*exact {
				t.Errorf("%s x=%v: Eps clipping bias %.5f is not negligible", sched.Name(), x, clipped-exact)
			}
			if math.Abs(mean-exact) > 3*se {
				t.Errorf("%s x=%v: Loss estimate %.5f ± %.5f, exact %.5f: off by %.1f SE", sched.Name(), x, mean, se, exact, (mean-exact)/se)
			}
			if se > 0.05*exact {
				t.Errorf("%s x=%v: SE %.5f too large for the test to mean anything", sched.Name(), x, se)
			}
			if math.Abs(dbm-exact) < 10*dbmSE {
				t.Errorf("%s x=%v: DivideByMasked %.5f ± %.5f is within 10 SE of exact %.5f", sched.Name(), x, dbm, dbmSE, exact)
			}
		}
	}
}

// TestProofELBO: (b) the stratified ELBO with the exact denoiser matches -log p(x)/L.
func TestProofELBO(t *testing.T) {
	d := newToy(4, 3, 1)
	rng := rand.New(rand.NewPCG(21, 22))
	fn := func(xt []int32) ([]float32, error) { return d.oracle(xt), nil }
	for _, x := range proofSeqs(d) {
		exact := d.nll(x) / float64(d.L)
		for _, draws := range []int{4000, 4001} { // L | draws and not
			est, se, err := ELBO(fn, x, d.V(), d.mask(), draws, rng)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("x=%v draws=%d: exact %.4f, ELBO %.4f ± %.4f (%.1f SE)", x, draws, exact, est, se, (est-exact)/se)
			if se <= 0 || se > 0.05*exact {
				t.Errorf("x=%v: implausible SE %.5f", x, se)
			}
			if math.Abs(est-exact) > 3*se {
				t.Errorf("x=%v draws=%d: ELBO %.5f ± %.5f, exact %.5f", x, draws, est, se, exact)
			}
		}
	}
}

// TestUniformLogits: (d) a model uniform over the Vr real tokens. The stratified ELBO scores
// exactly log Vr on every draw. Loss equals w(t) (masked/L) log Vr on every draw, so
// E[Loss | t] = -alpha'(t) log Vr: exactly log Vr at every t for the linear schedule, and for
// other schedules only after integrating over t.
func TestUniformLogits(t *testing.T) {
	const Vr, B, L = 50, 8, 16
	V, mask := Vr+1, int32(Vr)
	logV := math.Log(Vr)
	uniform := func(n int) []float32 {
		lg := make([]float32, n*V)
		for r := range n {
			for v := range Vr {
				lg[r*V+v] = float32(r%5) - 2 // same value across a row's real tokens
			}
			lg[r*V+Vr] = 30
		}
		return lg
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]int32, L)
	for i := range x {
		x[i] = int32(rng.IntN(Vr))
	}
	est, se, err := ELBO(func([]int32) ([]float32, error) { return uniform(L), nil }, x, V, mask, 64, rng)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(est-logV) > 1e-12 || se > 1e-12 {
		t.Fatalf("uniform ELBO %.15f ± %g, want exactly log %d = %.15f", est, se, Vr, logV)
	}

	x0 := make([]int32, B*L)
	for i := range x0 {
		x0[i] = int32(rng.IntN(Vr))
	}
	xt := make([]int32, B*L)
	lg := uniform(B * L)
	for _, sched := range []Schedule{Linear{}, Cosine{}, LogLinear{Eps: 1e-3}} {
		cfg := NoiseConfig{Schedule: sched, Eps: 1e-3}
		// Identity on every draw.
		for range 20 {
			times := SampleTimes(rng, B, cfg)
			masked := Corrupt(rng, x0, B, L, times, sched, mask, xt)
			got, _ := Loss(lg, x0, xt, B, L, V, times, cfg, mask, nil)
			var want float64
			for b := range B {
				m := 0
				for _, mk := range masked[b*L : (b+1)*L] {
					if mk {
						m++
					}
				}
				want += Weight(sched, times[b]) * float64(m) * logV / float64(B*L)
			}
			if math.Abs(got-want) > 1e-9*want {
				t.Fatalf("%s: uniform Loss %.12f, want w(t)·m·log V/(BL) = %.12f", sched.Name(), got, want)
			}
		}
		// Conditional expectation at fixed t.
		for _, tt := range []float64{0.05, 0.3, 0.9} {
			times := []float64{tt, tt, tt, tt, tt, tt, tt, tt}
			vals := make([]float64, 3000)
			for i := range vals {
				Corrupt(rng, x0, B, L, times, sched, mask, xt)
				vals[i], _ = Loss(lg, x0, xt, B, L, V, times, cfg, mask, nil)
			}
			mean, se := MeanSE(vals)
			want := -sched.DAlpha(tt) * logV
			if math.Abs(mean-want) > 3*se {
				t.Errorf("%s t=%.2f: E[Loss|t] %.4f ± %.4f, want -alpha'(t) log V = %.4f", sched.Name(), tt, mean, se, want)
			}
			if _, lin := sched.(Linear); lin && want != logV {
				t.Errorf("linear: -alpha'(t) log V = %v, want log V exactly", want)
			}
		}
		// Integrated over clipped t: alpha(eps)/(1-eps) log V (exactly log V for linear).
		vals := make([]float64, 4000)
		for i := range vals {
			times := SampleTimes(rng, B, cfg)
			Corrupt(rng, x0, B, L, times, sched, mask, xt)
			vals[i], _ = Loss(lg, x0, xt, B, L, V, times, cfg, mask, nil)
		}
		mean, se := MeanSE(vals)
		want := (sched.Alpha(cfg.Eps) - sched.Alpha(1)) / (1 - cfg.Eps) * logV
		t.Logf("%s: uniform Loss over t %.4f ± %.4f, expected %.4f, log V %.4f", sched.Name(), mean, se, want, logV)
		if math.Abs(mean-want) > 3*se {
			t.Errorf("%s: uniform Loss over t %.4f ± %.4f, want %.4f", sched.Name(), mean, se, want)
		}
	}
}
