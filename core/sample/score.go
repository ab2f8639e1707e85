package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/austen-diffusion/textdiffusion/core/nn"
)

var errNoToken = errors.New("no finite logit besides MASK")

// scorer turns one position's logits into a candidate token and its confidence. It owns its
// scratch rows so a step allocates nothing per position.
type scorer struct {
	c *config
	w []float64 // (v) the position's (guided) logits, MASK at -inf
	e []float64 // (v) exp(w - max)
	q []float64 // (v) tempered weights exp((w - max)/T) after the cuts
	t []float64 // (v) sort scratch for the cuts
}

func newScorer(c *config) *scorer {
	v := c.v
	return &scorer{c: c, w: make([]float64, v), e: make([]float64, v), q: make([]float64, v), t: make([]float64, v)}
}

// score returns the candidate for a position whose conditional logits are lc (v) and, under
// guidance, unconditional logits lu (v; nil without guidance), and, when wantConf, the
// position's confidence. The MASK logit is -inf throughout (SUBS), so MASK is never a
// candidate. At temperature T > 0 the candidate is a draw from softmax(l/T) restricted to
// the top-k / top-p cuts: the distribution of argmax(l + T*Gumbel), drawn by inverse CDF
// (one uniform per position instead of two logarithms per token). At T = 0 it is the first
// argmax. The confidence uses the guided logits before the cuts, without noise or
// temperature.
func (s *scorer) score(lc, lu []float32, wantConf bool, rng *rand.Rand) (int32, float64, error) {
	c, w := s.c, s.w
	if lu == nil {
		for j, x := range lc {
			w[j] = float64(x)
		}
	} else {
		g := c.CFGScale + 1
		for j := range lc {
			u := float64(lu[j])
			w[j] = u + g*(float64(lc[j])-u)
		}
	}
	w[c.mask] = math.Inf(-1)

	arg, top1, top2 := -1, math.Inf(-1), math.Inf(-1)
	for j, x := range w {
		if x > top1 {
			arg, top1, top2 = j, x, top1
		} else if x > top2 {
			top2 = x
		}
	}
	if arg < 0 || math.IsInf(top1, 1) {
		return 0, 0, errNoToken
	}
	cand := arg

	var sum, dot float64 // sum exp(w - top1), and the same weighted by (w - top1)
	if wantConf || c.Temperature == 1 {
		for j, x := range w {
			d := x - top1
			e := nn.ExpNeg(d)
			s.e[j] = e
			if e > 0 {
				sum += e
				dot += e * d
			}
		}
	}
	if c.Temperature > 0 {
		var err error
		if cand, err = s.draw(top1, rng); err != nil {
			return 0, 0, err
		}
	}
	if !wantConf {
		return int32(cand), 0, nil
	}
	var conf float64
	switch c.conf {
	case confProb:
		conf = s.e[cand] / sum
	case confEntropy:
		// H = -sum p log p = log(sum) - dot/sum; the confidence is -H.
		conf = dot/sum - math.Log(sum)
	case confMargin:
		conf = (1 - nn.ExpNeg(top2-top1)) / sum
	}
	return int32(cand), conf, nil
}

// draw returns a token drawn from the tempered weights of s.w (whose maximum is top) after
// the top-k and top-p cuts. s.e must hold exp(w - top) when the temperature is 1.
func (s *scorer) draw(top float64, rng *rand.Rand) (int, error) {
	c, w, q := s.c, s.w, s.q
	if c.Temperature == 1 {
		copy(q, s.e)
	} else {
		inv := 1 / c.Temperature
		for j, x := range w {
			q[j] = nn.ExpNeg((x - top) * inv)
		}
	}
	if c.TopK > 0 && c.TopK < len(w) {
		t := s.t
		copy(t, w)
		slices.Sort(t)
		kth := t[len(t)-c.TopK]
		for j, x := range w {
			if x < kth {
				q[j] = 0
			}
		}
	}
	if c.TopP > 0 && c.TopP < 1 {
		// Keep the largest weights until they hold TopP of the mass (ties at the cut stay).
		t := s.t
		copy(t, q)
		slices.Sort(t)
		var total, acc float64
		for _, x := range t {
			total += x
		}
		cut := 0.0
		for i := len(t) - 1; i >= 0 && acc < c.TopP*total; i-- {
			acc += t[i]
			cut = t[i]
		}
		for j, x := range q {
			if x < cut {
				q[j] = 0
			}
		}
	}
	var total float64
	for _, x := range q {
		total += x
	}
	u := rng.Float64() * total
	last := -1
	var acc float64
	for j, x := range q {
		if x == 0 {
			continue
		}
		acc += x
		last = j
		if u < acc {
			return j, nil
		}
	}
	if last < 0 {
		return 0, errNoToken
	}
	return last, nil // u fell past the rounded total
}
