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

	top1, top2 float64 // the two largest logits of the position loaded last
	sum, dot   float64 // sum of e, and of e (w - top1) (expw)
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
	c := s.c
	cand, err := s.load(lc, lu)
	if err != nil {
		return 0, 0, err
	}
	if wantConf || c.Temperature == 1 {
		s.expw()
	}
	if c.Temperature > 0 {
		if cand, err = s.draw(rng); err != nil {
			return 0, 0, err
		}
	}
	if !wantConf {
		return int32(cand), 0, nil
	}
	return int32(cand), s.confidence(cand), nil
}

// load fills s.w with a position's (guided) logits, MASK at -inf, and returns the first
// argmax; it records the two largest logits for expw and confidence.
func (s *scorer) load(lc, lu []float32) (int, error) {
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
		return 0, errNoToken
	}
	s.top1, s.top2 = top1, top2
	return arg, nil
}

// expw fills s.e with exp(w - top1) and records its sum and the sum weighted by (w - top1),
// which the confidences and the temperature-1 weights read.
func (s *scorer) expw() {
	var sum, dot float64
	for j, x := range s.w {
		d := x - s.top1
		e := nn.ExpNeg(d)
		s.e[j] = e
		if e > 0 {
			sum += e
			dot += e * d
		}
	}
	s.sum, s.dot = sum, dot
}

// confidence is the score of candidate cand for the position loaded last (after expw).
func (s *scorer) confidence(cand int) float64 {
	switch s.c.conf {
	case confEntropy:
		// H = -sum p log p = log(sum) - dot/sum; the confidence is -H.
		return s.dot/s.sum - math.Log(s.sum)
	case confMargin:
		return (1 - nn.ExpNeg(s.top2-s.top1)) / s.sum
	}
	return s.e[cand] / s.sum
}

// dist writes into out (v) the distribution a candidate of the position loaded last is
// drawn from: the tempered, cut weights normalised, or at temperature 0 all the mass on the
// first argmax arg. It also runs expw, so confidence may follow.
func (s *scorer) dist(arg int, out []float64) {
	s.expw()
	if s.c.Temperature == 0 {
		clear(out)
		out[arg] = 1
		return
	}
	total := s.weights()
	for j, x := range s.q {
		out[j] = x / total
	}
}

// draw returns a token drawn from the tempered, cut weights of the position loaded last.
// s.e must hold exp(w - top1) when the temperature is 1.
func (s *scorer) draw(rng *rand.Rand) (int, error) {
	total := s.weights()
	return pick(s.q, total, rng)
}

// weights fills s.q with the tempered weights exp((w - top1)/T) of the position loaded
// last, zeroed outside the top-k and top-p cuts, and returns their sum. s.e must hold
// exp(w - top1) when the temperature is 1.
func (s *scorer) weights() float64 {
	c, w, q, top := s.c, s.w, s.q, s.top1
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
		// The weights under tau = (1-TopP) total / v hold less than 1-TopP of it, so the
		// cut lies among the others, usually a few dozen of the v: only those are sorted
		// (all of them if rounding says otherwise).
		var total float64
		for _, x := range q {
			total += x
		}
		tau := (1 - c.TopP) * total / float64(len(q))
		cut, ok := topPCut(s.t, q, tau, c.TopP*total)
		if !ok {
			cut, _ = topPCut(s.t, q, 0, c.TopP*total)
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
	return total
}

// topPCut returns the smallest of the largest weights q that together reach mass, looking
// only at those >= tau (t is scratch of len(q)); ok is false when those do not reach it.
func topPCut(t, q []float64, tau, mass float64) (cut float64, ok bool) {
	t = t[:0]
	for _, x := range q {
		if x >= tau {
			t = append(t, x)
		}
	}
	// The largest first, as a max-heap hands them out: the set that reaches the mass is
	// usually a small part of t, so this costs about len(t) steps where a sort costs
	// len(t) log len(t). The sum runs in the same order as over a sorted t (equal weights
	// are interchangeable), so the cut is the same.
	for i := len(t)/2 - 1; i >= 0; i-- {
		siftDown(t, i)
	}
	acc := 0.0
	for n := len(t); n > 0 && acc < mass; n-- {
		cut = t[0]
		acc += cut
		t[0] = t[n-1]
		siftDown(t[:n-1], 0)
	}
	return cut, acc >= mass
}

// siftDown moves h[i] down the max-heap h to its place.
func siftDown(h []float64, i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[r] > h[c] {
			c = r
		}
		if !(h[c] > h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// pick draws an index of the weights q (summing to total) by inverse CDF.
func pick(q []float64, total float64, rng *rand.Rand) (int, error) {
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
